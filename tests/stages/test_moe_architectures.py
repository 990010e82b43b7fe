"""MoE checkpoints of other families than the tiny Qwen3-MoE: each config class names its experts and routers
its own way, and transformers converts each one's expert layout on load. For every family a user may bring
(OLMoE, DeepSeek-V2, Qwen2-MoE, Mixtral), a small random checkpoint of that class, saved with the tiny
tokenizer and chat template, goes through what rlreason does with an MoE: it is recognised as one (the router
loss applies), a trainer checkpoint resumes with its experts, and GRPO trains its experts, with vLLM rollouts
and weight sync where vLLM's CPU build runs the family."""

import inspect

import pytest
import torch
import transformers
from transformers import AutoModelForCausalLM, Trainer

from rlreason.config import compose
from rlreason.models.loading import ResumeConvertedWeights, is_moe, load_policy, load_tokenizer
from rlreason.stages import grpo
from rlreason.stages.contract import Run, StageResult

TINY = [
    "logger=none",
    "grpo.max_steps=2",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=16",
    "grpo.save_steps=100",
    "data.reasoning.grpo_size=8",
    "model.tiny_moe.tokenizer_corpus_size=200",
]
# vLLM's CPU attention needs a head size of at least 32.
COMMON = {
    "hidden_size": 128,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
FAMILIES = {
    "OlmoeConfig": {"num_experts": 4, "num_experts_per_tok": 2},
    "DeepseekV2Config": {
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "n_shared_experts": 1,
        "moe_intermediate_size": 32,
        "first_k_dense_replace": 0,
        "kv_lora_rank": 32,
        "q_lora_rank": None,
        "qk_rope_head_dim": 32,
        "qk_nope_head_dim": 32,
        "v_head_dim": 32,
        "n_group": 1,
        "topk_group": 1,
        "num_key_value_heads": 4,
    },  # multi-head latent attention: as many KV heads as heads
    "Qwen2MoeConfig": {
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 32,
    },
    "MixtralConfig": {"num_local_experts": 4, "num_experts_per_tok": 2},
}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, initialized_run):
    run_dir = tmp_path_factory.mktemp("init")
    initialized_run(run_dir, TINY)
    return run_dir / "init" / "model"


def build(family: str, tokenizer_dir, out):
    tokenizer = load_tokenizer(str(tokenizer_dir))
    config = getattr(transformers, family)(
        **{**COMMON, **FAMILIES[family]},
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model


class _Trainer(ResumeConvertedWeights, Trainer):
    pass


@pytest.mark.parametrize("family", FAMILIES)
def test_a_trainer_checkpoint_resumes_with_its_experts(tokenizer_dir, tmp_path, family):
    trained = build(family, tokenizer_dir, tmp_path / "checkpoint")
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.01)
    trained.save_pretrained(tmp_path / "checkpoint")
    policy = load_policy(str(tmp_path / "checkpoint"))
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.zero_()
    trainer = _Trainer.__new__(_Trainer)
    trainer.model, trainer.is_fsdp_enabled = policy, False
    trainer._load_from_checkpoint(str(tmp_path / "checkpoint"))
    assert all(torch.equal(value, trained.state_dict()[name]) for name, value in policy.state_dict().items())


# vLLM samples each family's rollouts (the default engine, with rlreason's CPU weight sync) where its CPU build runs
# the architecture in fp32; DeepSeek-V2's multi-head latent attention kernels on CPU take bf16/fp16 weights only,
# so the stage falls back to HF generate for it, saying why.
VLLM_ON_CPU = {"OlmoeConfig": True, "DeepseekV2Config": False, "Qwen2MoeConfig": True, "MixtralConfig": True}


@pytest.mark.parametrize("family", FAMILIES)
def test_grpo_trains_the_experts_of_each_family(tokenizer_dir, tmp_path, varying_reward, family):
    source = tmp_path / "policy"
    build(family, tokenizer_dir, source)
    assert is_moe(load_policy(str(source)))
    reward = f"reward.functions=[{{fn: '{inspect.getfile(varying_reward)}:{varying_reward.__name__}'}}]"
    cfg = compose([f"run_dir={tmp_path}", *TINY, reward])
    assert (
        grpo.grpo_config(cfg, str(tmp_path), [1.0], "cpu", load_policy(str(source)).config).router_aux_loss_coef
        == 0.001
    )
    run = Run(tmp_path)
    run.record("init", "completed", 0.0, StageResult(checkpoint=str(source)))
    result = grpo.run(cfg, run)
    assert result.metrics["rollout_engine"] == ("vllm" if VLLM_ON_CPU[family] else "hf")
    if VLLM_ON_CPU[family]:  # vLLM samples from the policy's weights, synced every step
        assert result.metrics["max_logp_difference"] < 1e-3
    before = AutoModelForCausalLM.from_pretrained(source).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    assert any("experts" in name and not torch.equal(before[name], after[name]) for name in before)
