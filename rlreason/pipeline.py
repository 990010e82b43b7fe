"""Run the configured stages in a run dir, record each in ``summary.json``, resume on re-run.

Before the first stage: every stage module is imported (a broken install fails now, not after hours of
training), the inputs are checked (``rlreason/preflight.py``), and :func:`rlreason.resume.plan` decides which
stages a re-run reuses, continues or runs again (and refuses a changed config, listing the keys). A stop
signal (Ctrl-C, SIGTERM, SIGUSR1) ends the running stage as ``interrupted``: training saves a checkpoint
first, and a re-run continues from it (``rlreason/interrupt.py``). The run dir and the summary's layout are
the stage contract, ``rlreason/stages/contract.py``.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from rlreason.distributed.config import TRAINING_STAGES, world_size
from rlreason.interrupt import stop_on_signals
from rlreason.preflight import check_context, check_inputs
from rlreason.resume import digest, fingerprints, plan, stage_config
from rlreason.run_lock import run_dir_lock
from rlreason.runtime import environment, resolve_device
from rlreason.stages import STAGES
from rlreason.stages.contract import Run, stage_labels, stage_name, usable_dir

logger = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """``conf/pipeline/``: the ordered stages to run (default ``r1``: R1's recipe, small)."""

    name: str = "r1"
    stages: list[str] = field(default_factory=lambda: ["init", "sft", "grpo", "eval"])

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"pipeline.stages: unknown stage(s) {unknown}; allowed: {sorted(STAGES)}")
        if self.stages and self.stages[0] != "init" and self.stages != ["eval"]:
            raise ValueError(
                "pipeline.stages: the first stage must be 'init' (it resolves the policy), or run [eval] alone"
            )


def _inputs(cfg, run) -> dict[str, str | None]:
    """Fingerprints of every checkpoint a stage starting now could read: the run's, the user's, and the reward
    models GRPO scores with (``rm:PATH``), so a re-trained reward model re-runs the stages that used it."""
    from rlreason.rewards.registry import reward_model_path

    reward_models = [path for spec in cfg.reward.functions if (path := reward_model_path(spec)) and Path(path).exists()]
    paths = [
        *run.checkpoints().values(),
        *([cfg.model.path] if cfg.model.path else []),
        *cfg.eval.checkpoints,
        *reward_models,
    ]
    return fingerprints(dict.fromkeys(paths))


def run_pipeline(cfg) -> Run:
    """Run ``cfg.pipeline.stages`` in ``cfg.run_dir``, holding the run dir's lock; returns the finished ``Run``."""
    with run_dir_lock(usable_dir(cfg.run_dir), cfg.resume.force_unlock, cfg.resume.lock_wait_s):
        return _run_locked(cfg)


def _run_locked(cfg) -> Run:
    run = Run(cfg.run_dir)  # the summary is read only once the lock is held: no other command is writing it
    names = list(cfg.pipeline.stages)
    stages = {label: importlib.import_module(STAGES[name]) for label, name in zip(stage_labels(names), names)}
    steps = plan(cfg, run, stages)
    run.begin_attempt(cfg, environment())
    to_run = [stage_name(label) for label, step in steps.items() if step.action != "skip"]
    with stop_on_signals():
        check_inputs(cfg, to_run)
        for label, stage in stages.items():
            _take(cfg, run, label, stage, steps[label])
            if label == "init":  # the policy's tokenizer exists from here on: check the prompts fit its context
                check_context(cfg, run.latest_checkpoint(), to_run)
    return run


def _take(cfg, run, label: str, stage, step) -> None:
    """Skip, run again or continue one stage, as the resume plan says."""
    if step.action == "skip":
        logger.info("stage %s: already completed in %s, skipping", label, run.dir)
        if step.kept_changes:
            run.summary["stages"][label]["kept_changes"] = step.kept_changes
            run.save()
            logger.warning(
                "stage %s: kept despite config changes (resume.on_change=keep): %s", label, "; ".join(step.kept_changes)
            )
        return
    if step.action == "run" and step.reason:
        moved = run.supersede(label)
        logger.warning(
            "stage %s: running again: %s%s", label, step.reason, f" (old folder moved to {moved})" if moved else ""
        )
    elif step.action == "continue":
        logger.info("stage %s: %s", label, step.reason)
    _run_stage(cfg, run, label, stage, step)


def _execute(cfg, run, label: str, stage):
    """The stage in this process, or a training stage on ``distributed.num_processes`` processes."""
    device = resolve_device(cfg.device)
    if stage_name(label) in TRAINING_STAGES and world_size(cfg, device) > 1:
        from rlreason.distributed.launch import run_stage

        return run_stage(cfg, run, label, device)
    return stage.run(cfg, run)


def _run_stage(cfg, run, label: str, stage, step) -> None:
    logger.info("stage %s: starting", label)
    start = time.perf_counter()
    run.current = label
    extra = {"kept_changes": step.kept_changes} if step.kept_changes else {}
    run.start(label, digest(stage_config(cfg, stage.CONFIG_KEYS)), _inputs(cfg, run), **extra)
    try:
        result = _execute(cfg, run, label, stage)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM / SIGUSR1 as Interrupted
        run.record(label, "interrupted", time.perf_counter() - start, error=str(stop) or "interrupted")
        raise
    except Exception as error:
        run.record(label, "failed", time.perf_counter() - start, error=f"{type(error).__name__}: {error}")
        raise
    run.record(label, "completed", time.perf_counter() - start, result)
    logger.info("stage %s: completed in %.1f s", label, time.perf_counter() - start)
