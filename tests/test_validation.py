"""Config errors: one line naming the key and what is allowed, exit code 2, before anything runs."""

import subprocess
import sys

import pytest

from rlreason.config import ConfigError, compose


def test_defaults_compose_into_the_default_pipeline():
    cfg = compose([])
    assert list(cfg.pipeline.stages) == ["init", "sft", "grpo", "eval"]
    assert cfg.model.path is None and cfg.model.tiny_moe.num_experts == 8 and cfg.logger.mode == "offline"
    assert [r.fn for r in cfg.reward.functions] == ["accuracy", "format"]
    assert cfg.rollout.engine.value == "vllm" and cfg.rollout.mode.value == "colocate"
    assert cfg.data.tool_calling.grpo_size == cfg.data.safety.grpo_size == 0  # GRPO rewards reasoning only


def test_the_all_scenario_pipeline_rewards_and_samples_every_skill():
    cfg = compose(["pipeline=r1_all_scenario"])
    assert cfg.pipeline.name == "r1_all_scenario"
    assert [r.fn for r in cfg.reward.functions] == ["accuracy", "format", "tool_calling", "safety"]
    assert cfg.data.tool_calling.grpo_size > 0 and cfg.data.safety.grpo_size > 0


def test_the_full_pipeline_repeats_sft_and_grpo_around_a_rollout_stage():
    cfg = compose(["pipeline=r1_full", "rollout=vllm_server"])
    assert list(cfg.pipeline.stages) == ["init", "sft", "grpo", "rollout", "sft", "grpo", "eval"]
    assert cfg.rollout.mode.value == "server" and cfg.rollout.server.host == "127.0.0.1"


@pytest.mark.parametrize(
    "override, expected",
    [
        ("grpo.lr=1", "grpo.lr: unknown key; allowed keys here: max_steps, learning_rate"),
        ("grpo.loss_type=ppo", "grpo.loss_type: Invalid value 'ppo', expected one of [grpo, dr_grpo, dapo"),
        ("sft.max_steps=many", "sft.max_steps: Value 'many' of type 'str' could not be converted to Integer"),
        (
            "model=gpt5",
            "model=gpt5: no such option in conf/model/; allowed: deepseek_v2_lite, olmoe_1b_7b, pretrained, qwen3_30b_a3b, smollm2, tiny_moe",  # noqa: E501
        ),
        ("reward.on_error=ignore", "reward.on_error: got 'ignore'; allowed: 'raise', 'none'"),
        ("pipeline.stages=[init,dpo]", "pipeline.stages: unknown stage(s) ['dpo']"),
        ("data.reasoning.ops=[/]", "data.reasoning.ops: unknown or empty ['/']"),
        ("logger.name=mlflow", "logger.name: got 'mlflow'; allowed: 'wandb', 'none'"),
        ("rollout=sglang", "rollout=sglang: no such option in conf/rollout/; allowed: hf, vllm_colocate, vllm_server"),
        (
            "rejection_sampling.keep=top",
            "rejection_sampling.keep: Invalid value 'top', expected one of [all, passing, best]",
        ),
        ("eval.safety.judge.kind=llm", "eval.safety.judge.kind: got 'llm'; allowed: 'rule', 'classifier', 'endpoint'"),
    ],
)
def test_bad_overrides_are_explained_in_one_line(override, expected):
    with pytest.raises(ConfigError) as error:
        compose([override])
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_the_command_exits_2_with_one_line_on_stderr():
    result = subprocess.run(
        [sys.executable, "-m", "rlreason", "grpo.beta=lots"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("rlreason: config error: grpo.beta:")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model=pretrained"], "model.path"),
        (["data=file", "data.train_file=t.jsonl"], "data.test_file"),
        (["data=hub"], "data.path"),
    ],
)
def test_options_that_need_a_value_say_which(overrides, key):
    with pytest.raises(ConfigError, match=f"^{key}: required"):
        compose(overrides)
