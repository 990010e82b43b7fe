"""Resuming picks the newest checkpoint saved whole. With ``model.lora.enabled`` the SFT and reward-model stages
train adapters only and save the adapter beside a merged Hugging Face folder that the next stage, the reward
registry and vLLM load like any checkpoint."""

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from rlreason.rewards.model import RewardModel
from rlreason.stages import reward_model, sft
from rlreason.stages.training import last_complete_checkpoint

LORA = [
    "logger=none",
    "model.tiny_moe.tokenizer_corpus_size=200",
    "model.lora.enabled=true",
    "model.lora.target_experts=true",
    "sft.max_steps=6",
    "sft.batch_size=8",
    "sft.learning_rate=3e-3",
    "data.reasoning.sft_size=64",
    "data.tool_calling.sft_size=16",
    "data.safety.sft_size=16",
    "reward_model.pairs_per_task=16",
    "reward_model.test_pairs_per_task=8",
    "reward_model.learning_rate=3e-3",
    "reward_model.num_train_epochs=1",
]


def changed_keys(before: dict, after: dict) -> set[str]:
    return {k for k in before if k in after and not torch.equal(before[k], after[k])}


def test_sft_and_reward_model_train_adapters_and_save_merged_folders(tmp_path, initialized_run):
    cfg, run = initialized_run(tmp_path, ["pipeline=r1_rm", *LORA])
    base = run.latest_checkpoint()
    result = sft.run(cfg, run)
    run.record("sft", "completed", 0.0, result)
    assert (tmp_path / "sft" / "adapter" / "adapter_config.json").exists()
    assert 0 < result.metrics["trainable_share"] < 0.5
    before = AutoModelForCausalLM.from_pretrained(base).state_dict()
    changed = changed_keys(before, AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict())
    assert any("self_attn" in k for k in changed) and any("experts" in k for k in changed)
    assert not any(k.endswith(("mlp.gate.weight", "embed_tokens.weight", "norm.weight")) for k in changed)  # frozen

    scored = reward_model.run(cfg, run)
    model_dir = tmp_path / "reward_model" / "model"
    assert (tmp_path / "reward_model" / "adapter" / "adapter_config.json").exists()
    assert scored.metrics["model"] == str(model_dir) and 0 < scored.metrics["accuracy"] <= 1
    head = AutoModelForSequenceClassification.from_pretrained(model_dir)
    assert head.score.weight.abs().sum() > 0 and head.config.pad_token_id is not None  # the trained head, merged
    scores = RewardModel(str(model_dir), device="cpu", max_length=128).score_texts(["a", "b b"])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)


def test_resume_skips_a_checkpoint_whose_save_was_cut_short(tmp_path, caplog):
    assert last_complete_checkpoint(tmp_path / "missing") is None
    for step, whole in ((2, True), (10, True), (12, False)):  # 12: killed while saving, before its trainer state
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
        if whole:
            (folder / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # 10 > 2: by number, not by name
    assert "checkpoint-12: incomplete" in caplog.text
