"""Gate selection in the eval stage: which checkpoint is the baseline, and a regression that must fail."""

import pytest

from rlreason.config import compose
from rlreason.stages.eval import baseline_label, check_gates


def _cfg(*overrides):
    return compose(["logger=none", *overrides])


def test_the_baseline_is_the_checkpoint_before_the_first_rl_stage():
    assert baseline_label(_cfg(), ["init", "sft", "grpo"]) == "sft"
    assert baseline_label(_cfg("pipeline.stages=[init,grpo,eval]"), ["init", "grpo"]) == "init"
    assert baseline_label(_cfg("eval.baseline=init"), ["init", "sft", "grpo"]) == "init"
    with pytest.raises(ValueError, match="eval.baseline=base: no such checkpoint; allowed: init, sft, grpo"):
        baseline_label(_cfg("eval.baseline=base"), ["init", "sft", "grpo"])


def test_a_lost_skill_fails_its_gate_and_an_unchanged_one_passes():
    per_example = {
        "init": {"reasoning": {"accuracy": [0.0] * 100}},
        "sft": {"reasoning": {"accuracy": [1.0] * 50 + [0.0] * 50}, "tool_calling": {"accuracy": [1.0] * 100}},
        "grpo": {
            "reasoning": {"accuracy": [1.0] * 90 + [0.0] * 10},
            "tool_calling": {"accuracy": [1.0] * 30 + [0.0] * 70},
        },
    }
    gates = check_gates(_cfg(), ["init", "sft", "grpo"], per_example)
    verdicts = {(g.checkpoint, g.suite, g.metric): g.passed for g in gates}
    assert verdicts == {("grpo", "reasoning", "accuracy"): True, ("grpo", "tool_calling", "accuracy"): False}


def test_a_repeated_rl_stage_is_gated_against_the_checkpoint_before_the_first_one():
    labels = ["init", "sft", "grpo", "sft_2", "grpo_2"]
    assert baseline_label(_cfg("pipeline=r1_full"), labels) == "sft"


def test_listed_checkpoints_are_labelled_by_stage_and_the_first_is_the_baseline(tmp_path):
    from rlreason.stages.eval import listed_checkpoints

    for folder in ("a/sft/model", "a/grpo/model", "b/grpo/model", "mine"):
        (tmp_path / folder).mkdir(parents=True)
    paths = [str(tmp_path / f) for f in ("a/sft/model", "a/grpo/model", "b/grpo/model", "mine")]
    labels = list(listed_checkpoints(paths))
    assert labels == ["sft", "grpo", "grpo_2", "mine"]
    assert baseline_label(_cfg(f"eval.checkpoints=[{','.join(paths)}]"), labels) == "sft"
    with pytest.raises(FileNotFoundError, match="eval.checkpoints: .*nope is not a checkpoint folder"):
        listed_checkpoints([str(tmp_path / "nope")])


def test_the_eval_engine_follows_the_rollout_engine_unless_set(tmp_path):
    from rlreason.rollout.generation import HFGenerator, VLLMGenerator, build_generator

    pytest.importorskip("vllm")
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')

    def generator(cfg):
        return build_generator(
            cfg.eval.engine,
            "eval.engine",
            device="cpu",
            seed=0,
            rollout=cfg.rollout,
            batch_size=8,
            checkpoint=str(tmp_path),
        )

    assert isinstance(generator(_cfg()), VLLMGenerator)
    assert isinstance(generator(_cfg("rollout=hf")), HFGenerator)
    assert isinstance(generator(_cfg("eval.engine=hf")), HFGenerator)
    assert isinstance(generator(_cfg("rollout=hf", "eval.engine=vllm")), VLLMGenerator)
    with pytest.raises(Exception, match="eval.engine"):
        _cfg("eval.engine=sglang")
