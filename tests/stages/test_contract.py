import json

from rlreason.stages.contract import Run, StageResult


def test_summary_is_written_after_each_stage_and_reloaded(tmp_path):
    run = Run(tmp_path)
    run.record("init", "completed", 1.23456, StageResult(checkpoint=str(tmp_path), metrics={"parameters": 5}))
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == {
        "stages": {"init": {"status": "completed", "seconds": 1.235, "checkpoint": str(tmp_path), "metrics": {"parameters": 5}}},
        "evals": {},
        "gates": [],
    }
    assert Run(tmp_path).summary == on_disk
    assert not (tmp_path / "summary.json.tmp").exists()


def test_completed_stages_count_as_done_only_while_their_checkpoint_exists(tmp_path):
    run = Run(tmp_path)
    checkpoint = tmp_path / "sft_model"
    checkpoint.mkdir()
    run.record("sft", "completed", 1.0, StageResult(checkpoint=str(checkpoint)))
    run.record("grpo", "failed", 1.0, error="KeyboardInterrupt")
    assert run.is_done("sft") and not run.is_done("grpo") and not run.is_done("eval")
    assert run.summary["stages"]["grpo"]["metrics"] == {"error": "KeyboardInterrupt"}
    checkpoint.rmdir()
    assert not run.is_done("sft")


def test_latest_checkpoint_follows_pipeline_order(tmp_path):
    run = Run(tmp_path)
    run.record("init", "completed", 1.0, StageResult(checkpoint="a"))
    run.record("sft", "completed", 1.0, StageResult(checkpoint="b"))
    run.record("eval", "completed", 1.0, StageResult())
    assert run.checkpoints() == {"init": "a", "sft": "b"}
    assert run.latest_checkpoint() == "b"


def test_repeated_stages_get_numbered_labels():
    from rlreason.stages.contract import stage_labels, stage_name  # noqa: F401

    labels = stage_labels(["init", "sft", "grpo", "rollout", "sft", "grpo", "eval"])
    assert labels == ["init", "sft", "grpo", "rollout", "sft_2", "grpo_2", "eval"]
    assert [stage_name(label) for label in labels] == ["init", "sft", "grpo", "rollout", "sft", "grpo", "eval"]
