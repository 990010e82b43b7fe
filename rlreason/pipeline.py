"""Run the configured stages in a run dir, record each in ``summary.json``, resume on re-run.

Running the same command again with the same ``run_dir`` skips stages already ``completed`` (their
checkpoint must still exist) and lets an interrupted GRPO continue from its last checkpoint. The run dir and
the summary's layout are the stage contract, ``rlreason/stages/contract.py``.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field

from omegaconf import OmegaConf

from rlreason.stages import STAGES
from rlreason.stages.contract import Run, stage_labels

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
            raise ValueError("pipeline.stages: the first stage must be 'init' (it resolves the policy), or run [eval] alone")


def run_pipeline(cfg) -> Run:
    """Run ``cfg.pipeline.stages`` in ``cfg.run_dir``; returns the finished ``Run``."""
    run = Run(cfg.run_dir)
    (run.dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    # Import every stage up front, so a broken install fails now rather than after hours of training.
    names = list(cfg.pipeline.stages)
    stages = {label: importlib.import_module(STAGES[name]) for label, name in zip(stage_labels(names), names)}
    for name, stage in stages.items():
        if run.is_done(name):
            logger.info("stage %s: already completed in %s, skipping", name, run.dir)
            continue
        logger.info("stage %s: starting", name)
        start = time.perf_counter()
        run.current = name
        try:
            result = stage.run(cfg, run)
        except KeyboardInterrupt:
            run.record(name, "failed", time.perf_counter() - start, error="interrupted; re-run to resume")
            raise
        except Exception as error:
            run.record(name, "failed", time.perf_counter() - start, error=f"{type(error).__name__}: {error}")
            raise
        run.record(name, "completed", time.perf_counter() - start, result)
        logger.info("stage %s: completed in %.1f s", name, time.perf_counter() - start)
    return run
