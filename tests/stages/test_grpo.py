"""The GRPO stage wires every loss variant through to TRL and really updates the MoE policy."""

import inspect

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlreason.cli import CONFIG_MODULE
from rlreason.models.loading import load_policy
from rlreason.stages import grpo
from rlreason.stages.contract import Run, StageResult
from rlreason.validation import validate

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
    cfg = validate(CONFIG_MODULE, [f"run_dir={tmp_path}", *TINY, *overrides, reward])
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
    cfg = validate(CONFIG_MODULE, [f"run_dir={tmp_path}", *TINY, "grpo.freeze_router=true", reward])
    source = str(initial_checkpoint / "init" / "model")
    run = Run(tmp_path)
    run.record("init", "completed", 0.0, StageResult(checkpoint=source))
    result = grpo.run(cfg, run)
    before = AutoModelForCausalLM.from_pretrained(source).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    routers = [k for k in before if k.endswith("mlp.gate.weight")]
    assert routers and all(torch.equal(before[k], after[k]) for k in routers)
    assert any("experts" in k and not torch.equal(before[k], after[k]) for k in before)
