"""The resume plan: what a re-run in the same run dir skips, continues or runs again, and what it refuses."""

import importlib
import time

import pytest

from rlreason.config import compose
from rlreason.errors import UserError
from rlreason.pipeline import _inputs
from rlreason.resume import digest, plan, stage_config
from rlreason.stages import STAGES
from rlreason.stages.contract import Run, StageResult

STAGE_NAMES = ["init", "sft", "grpo", "eval"]
MODULES = {name: importlib.import_module(STAGES[name]) for name in STAGE_NAMES}


def config(run_dir, *overrides):
    return compose([f"run_dir={run_dir}", "logger=none", *overrides])


def ran(run_dir, *overrides, stop_at=None, status="interrupted"):
    """A run dir as the pipeline leaves it: each stage recorded with what it depended on, its checkpoint a
    folder with one file; ``stop_at`` ends there with ``status``."""
    cfg = config(run_dir, *overrides)
    run = Run(run_dir)
    run.begin_attempt(cfg, {})
    for name, module in MODULES.items():
        run.start(name, digest(stage_config(cfg, module.CONFIG_KEYS)), _inputs(cfg, run))
        if name == stop_at:
            run.record(name, status, 1.0, error="stopped by SIGTERM")
            break
        checkpoint = None
        if name != "eval":
            checkpoint = run.dir / name / "model"
            checkpoint.mkdir(parents=True)
            (checkpoint / "model.safetensors").write_text(name)
        run.record(name, "completed", 1.0, StageResult(checkpoint=str(checkpoint) if checkpoint else None))
    return run


def actions(run_dir, *overrides):
    steps = plan(config(run_dir, *overrides), Run(run_dir), MODULES)
    return {name: step.action for name, step in steps.items()}, steps


def test_an_unchanged_completed_run_skips_every_stage(tmp_path):
    ran(tmp_path)
    assert actions(tmp_path)[0] == dict.fromkeys(STAGE_NAMES, "skip")


def test_settings_that_do_not_change_results_do_not_invalidate(tmp_path):
    ran(tmp_path)
    assert actions(tmp_path, "grpo.logging_steps=1", "grpo.save_steps=5", "eval.batch_size=7")[0] == dict.fromkeys(
        STAGE_NAMES, "skip"
    )


def test_a_changed_config_is_refused_with_every_changed_key(tmp_path):
    ran(tmp_path)
    with pytest.raises(UserError) as refused:
        actions(tmp_path, "seed=1", "grpo.learning_rate=1e-5")
    message = str(refused.value)
    assert "init (completed), sft (completed), grpo (completed), eval (completed)" in message
    assert "grpo.learning_rate: 3e-05 -> 1e-05; seed: 0 -> 1" in message
    assert "resume.on_change=rerun" in message and "resume.on_change=keep" in message


def test_rerun_runs_the_changed_stage_and_everything_after_it(tmp_path):
    ran(tmp_path)
    done, steps = actions(tmp_path, "grpo.learning_rate=1e-5", "resume.on_change=rerun")
    assert done == {"init": "skip", "sft": "skip", "grpo": "run", "eval": "run"}
    assert "grpo.learning_rate: 3e-05 -> 1e-05" in steps["grpo"].reason
    assert "grpo runs, so every stage after it runs again" in steps["eval"].reason


def test_keep_keeps_the_stage_and_says_what_changed(tmp_path):
    ran(tmp_path)
    done, steps = actions(tmp_path, "eval.num_samples=8", "resume.on_change=keep")
    assert done == dict.fromkeys(STAGE_NAMES, "skip")
    assert steps["eval"].kept_changes == ["eval.num_samples: 4 -> 8"]


def test_a_deleted_checkpoint_reruns_its_stage_and_everything_after_it(tmp_path):
    run = ran(tmp_path)
    for path in (run.dir / "sft" / "model").iterdir():
        path.unlink()
    (run.dir / "sft" / "model").rmdir()
    done, steps = actions(tmp_path)
    assert done == {"init": "skip", "sft": "run", "grpo": "run", "eval": "run"}
    assert "its checkpoint" in steps["sft"].reason and "is gone" in steps["sft"].reason


def test_a_changed_input_checkpoint_reruns_the_stages_that_read_it(tmp_path):
    run = ran(tmp_path)
    time.sleep(0.01)
    (run.dir / "sft" / "model" / "model.safetensors").write_text("retrained")  # SFT made again by hand
    done, steps = actions(tmp_path)
    assert done == {"init": "skip", "sft": "skip", "grpo": "run", "eval": "run"}
    assert "input checkpoint(s) changed" in steps["grpo"].reason and "sft/model" in steps["grpo"].reason


def test_an_interrupted_stage_continues_unless_its_config_changed(tmp_path):
    ran(tmp_path, stop_at="grpo")
    done, _ = actions(tmp_path)
    assert done == {"init": "skip", "sft": "skip", "grpo": "continue", "eval": "run"}
    with pytest.raises(UserError, match=r"grpo \(interrupted\): grpo.num_generations: 8 -> 4"):
        actions(tmp_path, "grpo.num_generations=4")
    done, steps = actions(tmp_path, "grpo.num_generations=4", "resume.on_change=keep")
    assert done["grpo"] == "continue" and steps["grpo"].kept_changes == ["grpo.num_generations: 8 -> 4"]


def test_a_failed_stage_with_a_new_config_starts_over(tmp_path):
    ran(tmp_path, stop_at="grpo", status="failed")
    done, steps = actions(tmp_path, "grpo.learning_rate=1e-5")
    assert done["grpo"] == "run" and "it failed, and its config changed" in steps["grpo"].reason


def test_the_rollout_stages_settings_are_not_part_of_grpos_fingerprint():
    """Changing what rejection sampling keeps re-runs the rollout stage, not the GRPO stage before it."""
    grpo, rollout = importlib.import_module(STAGES["grpo"]), importlib.import_module(STAGES["rollout"])
    before, after = compose(["pipeline=r1_full"]), compose(["pipeline=r1_full", "rejection_sampling.min_reward=0.5"])
    assert stage_config(before, grpo.CONFIG_KEYS) == stage_config(after, grpo.CONFIG_KEYS)
    assert stage_config(before, rollout.CONFIG_KEYS) != stage_config(after, rollout.CONFIG_KEYS)
