"""The GRPO stage wires every loss variant through to TRL and really updates the MoE policy."""

import inspect

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlreason.config import compose
from rlreason.models.loading import load_policy
from rlreason.stages import grpo
from rlreason.stages.contract import Run, StageResult

TINY = [
    "logger=none",
    "rollout=hf",  # the loss wiring; vLLM rollouts have tests/rollout/
    "grpo.max_steps=2",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=16",
    "grpo.save_steps=100",
    "data.reasoning.grpo_size=16",
    "model.tiny_moe.tokenizer_corpus_size=200",
]


@pytest.fixture(scope="module")
def initial_checkpoint(tmp_path_factory, initialized_run):
    run_dir = tmp_path_factory.mktemp("init")
    initialized_run(run_dir, TINY)
    return run_dir


@pytest.mark.parametrize(
    "overrides, loss_type, level",
    [
        (["grpo.loss_type=dr_grpo"], "dr_grpo", "token"),
        (["grpo.loss_type=grpo", "grpo.importance_sampling_level=sequence"], "grpo", "sequence"),  # GSPO
        (["grpo.epsilon_high=0.28", "grpo.beta=0.04"], "dapo", "token"),  # DAPO clip-higher, with a KL term
    ],
)
def test_loss_variants_train_the_policy(initial_checkpoint, tmp_path, varying_reward, overrides, loss_type, level):
    reward = f"reward.functions=[{{fn: '{inspect.getfile(varying_reward)}:{varying_reward.__name__}'}}]"
    cfg = compose([f"run_dir={tmp_path}", *TINY, *overrides, reward])
    source = str(initial_checkpoint / "init" / "model")
    args = grpo.grpo_config(cfg, str(tmp_path), [1.0], "cpu", load_policy(source).config)
    assert (args.loss_type, args.importance_sampling_level) == (loss_type, level)
    assert args.router_aux_loss_coef == cfg.grpo.router_aux_loss_coef  # the tiny policy is an MoE
    run = Run(tmp_path)
    run.record("init", "completed", 0.0, StageResult(checkpoint=source))
    result = grpo.run(cfg, run)
    assert result.metrics["steps"] == 2
    assert len(result.metrics["moe"]["expert_load"]) == cfg.model.tiny_moe.num_hidden_layers  # routing, summarized
    before = AutoModelForCausalLM.from_pretrained(source).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("experts" in k for k in changed) and any("self_attn" in k for k in changed)
    assert (tmp_path / "grpo" / "rewards.png").exists()


def test_a_frozen_router_stays_while_the_experts_train(initial_checkpoint, tmp_path, varying_reward):
    reward = f"reward.functions=[{{fn: '{inspect.getfile(varying_reward)}:{varying_reward.__name__}'}}]"
    cfg = compose([f"run_dir={tmp_path}", *TINY, "grpo.freeze_router=true", reward])
    source = str(initial_checkpoint / "init" / "model")
    run = Run(tmp_path)
    run.record("init", "completed", 0.0, StageResult(checkpoint=source))
    result = grpo.run(cfg, run)
    before = AutoModelForCausalLM.from_pretrained(source).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    routers = [k for k in before if k.endswith("mlp.gate.weight")]
    assert routers and all(torch.equal(before[k], after[k]) for k in routers)
    assert any("experts" in k and not torch.equal(before[k], after[k]) for k in before)


def test_lora_trains_only_adapters_saves_adapter_and_merged_model_and_resumes_exactly(
    initial_checkpoint, tmp_path, varying_reward
):
    from peft import PeftModel

    reward = f"reward.functions=[{{fn: '{inspect.getfile(varying_reward)}:{varying_reward.__name__}'}}]"
    lora = ["model.lora.enabled=true", "grpo.learning_rate=3e-3", "grpo.max_steps=4", "grpo.save_steps=2", reward]
    source = str(initial_checkpoint / "init" / "model")

    def grpo_run(run_dir):
        cfg = compose([f"run_dir={run_dir}", *TINY, *lora])
        run = Run(run_dir)
        run.record("init", "completed", 0.0, StageResult(checkpoint=source))
        return grpo.run(cfg, run)

    result = grpo_run(tmp_path / "a")
    before = AutoModelForCausalLM.from_pretrained(source).state_dict()
    merged = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    changed = {k for k in before if not torch.equal(before[k], merged[k])}
    assert changed and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    assert 0 < result.metrics["trainable_share"] < 0.2 and result.metrics["optimizer_state_mib"] > 0
    adapter = tmp_path / "a" / "grpo" / "adapter"
    rebuilt = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(source), str(adapter)).merge_and_unload()
    assert all(torch.equal(v, merged[k]) for k, v in rebuilt.state_dict().items())  # model/ is base + adapter/

    # a run stopped after step 2 (only that checkpoint left) resumes to the uninterrupted run's adapter, bit for bit
    import shutil

    shutil.copytree(
        tmp_path / "a" / "grpo" / "checkpoints" / "checkpoint-2",
        tmp_path / "b" / "grpo" / "checkpoints" / "checkpoint-2",
    )
    resumed = grpo_run(tmp_path / "b")
    assert resumed.metrics["resumed_from"].endswith("checkpoint-2") and resumed.metrics["steps"] == 4
    final = AutoModelForCausalLM.from_pretrained(resumed.checkpoint).state_dict()
    assert all(torch.equal(final[k], merged[k]) for k in merged)
