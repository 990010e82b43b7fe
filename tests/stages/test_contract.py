import json
import math
import os

import pytest

from rlreason.errors import UserError
from rlreason.stages.contract import Run, StageResult


def test_summary_is_written_after_each_stage_and_reloaded(tmp_path):
    run = Run(tmp_path)
    run.record("init", "completed", 1.23456, StageResult(checkpoint=str(tmp_path), metrics={"parameters": 5}))
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == {
        "stages": {
            "init": {"status": "completed", "seconds": 1.235, "checkpoint": str(tmp_path), "metrics": {"parameters": 5}}
        },
        "evals": {},
        "gates": [],
        "attempts": [],
    }
    assert Run(tmp_path).summary == on_disk
    assert not (tmp_path / "summary.json.tmp").exists()


def test_non_finite_numbers_become_null_and_are_listed(tmp_path):
    run = Run(tmp_path)
    run.summary["evals"]["sft"] = {"reasoning": {"pass_at_1": math.nan, "accuracy": 0.5}}
    run.record("grpo", "completed", 1.0, StageResult(metrics={"reward_last": math.inf, "losses": [1.0, -math.inf]}))
    text = (tmp_path / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in summary.json"))
    assert summary["evals"]["sft"]["reasoning"] == {"pass_at_1": None, "accuracy": 0.5}
    assert summary["stages"]["grpo"]["metrics"] == {"reward_last": None, "losses": [1.0, None]}
    assert summary["non_finite"] == {
        "evals.sft.reasoning.pass_at_1": "nan",
        "stages.grpo.metrics.reward_last": "inf",
        "stages.grpo.metrics.losses.1": "-inf",
    }


def test_latest_checkpoint_follows_pipeline_order(tmp_path):
    run = Run(tmp_path)
    run.record("init", "completed", 1.0, StageResult(checkpoint="a"))
    run.record("sft", "completed", 1.0, StageResult(checkpoint="b"))
    run.record("grpo", "interrupted", 1.0, error="stopped by SIGTERM")
    run.record("eval", "completed", 1.0, StageResult())
    assert run.checkpoints() == {"init": "a", "sft": "b"}
    assert run.latest_checkpoint() == "b"


def test_each_attempt_keeps_its_config_and_environment(tmp_path):
    from omegaconf import OmegaConf

    run = Run(tmp_path)
    run.begin_attempt(OmegaConf.create({"seed": 0}), {"python": "3.11"})
    run.begin_attempt(OmegaConf.create({"seed": 1}), {"python": "3.11"})
    assert [a["number"] for a in run.summary["attempts"]] == [1, 2]
    assert OmegaConf.load(tmp_path / "attempts" / "1.yaml").seed == 0
    assert OmegaConf.load(tmp_path / "config.yaml").seed == 1  # the latest; the first is still in attempts/
    run.start("sft", "digest", {"a": "b"})
    assert run.summary["stages"]["sft"]["attempt"] == 2 and run.summary["stages"]["sft"]["status"] == "running"


def test_a_stage_run_again_moves_its_old_folder_aside(tmp_path):
    run = Run(tmp_path)
    (tmp_path / "sft" / "model").mkdir(parents=True)
    run.start("sft", "digest", {})
    moved = run.supersede("sft")
    assert moved == tmp_path / "superseded" / "sft.attempt0" and (moved / "model").is_dir()
    assert not (tmp_path / "sft").exists() and "sft" not in run.summary["stages"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"stages": {"init"', "summary.json: not valid JSON"),
        ("[1, 2]", "summary.json: not a run summary"),
    ],
)
def test_a_damaged_summary_is_a_user_error(tmp_path, content, message):
    (tmp_path / "summary.json").write_text(content)
    with pytest.raises(UserError, match=message):
        Run(tmp_path)


def test_an_empty_summary_counts_as_a_new_run(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    assert Run(tmp_path).summary["stages"] == {}


def test_a_run_dir_that_is_a_file_or_read_only_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="run_dir=.*file: is a file"):
        Run(tmp_path / "file")
    with pytest.raises(UserError, match="run_dir=.*file/run: cannot create it"):
        Run(tmp_path / "file" / "run")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="not writable|cannot create"):
            Run(locked / "run")


def test_repeated_stages_get_numbered_labels():
    from rlreason.stages.contract import stage_labels, stage_name

    labels = stage_labels(["init", "sft", "grpo", "rollout", "sft", "grpo", "eval"])
    assert labels == ["init", "sft", "grpo", "rollout", "sft_2", "grpo_2", "eval"]
    assert [stage_name(label) for label in labels] == ["init", "sft", "grpo", "rollout", "sft", "grpo", "eval"]
