"""Run the configured stages in a run dir, record each in ``summary.json``, resume on re-run.

``summary.json`` follows the contract in DESIGN.md::

    {"stages": {"<name>": {"status": "completed|failed|skipped", "seconds": float,
                           "checkpoint": path|null, "metrics": {...}}},
     "evals": {"<checkpoint_label>": {"reasoning": {...}, ...}},
     "gates": [...]}

Running the same command again with the same ``run_dir`` skips stages already ``completed`` (their
checkpoint must still exist) and lets an interrupted GRPO continue from its last checkpoint.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rlreason.stages import STAGES

logger = logging.getLogger(__name__)


@dataclass
class StageResult:
    checkpoint: str | None = None
    metrics: dict = field(default_factory=dict)


class Run:
    """The run dir and its ``summary.json``; what stages read from and write to."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.summary_path = self.dir / "summary.json"
        if self.summary_path.exists():
            self.summary = json.loads(self.summary_path.read_text())
        else:
            self.summary = {"stages": {}, "evals": {}, "gates": []}

    @property
    def id(self) -> str:
        """A stable identifier of this run, used to group its W&B runs."""
        return self.dir.name

    def stage_dir(self, name: str) -> Path:
        path = self.dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoints(self) -> dict[str, str]:
        """Checkpoints the completed stages produced, in pipeline order, keyed by stage name."""
        return {
            name: entry["checkpoint"]
            for name, entry in self.summary["stages"].items()
            if entry["status"] == "completed" and entry.get("checkpoint")
        }

    def latest_checkpoint(self) -> str:
        checkpoints = self.checkpoints()
        if not checkpoints:
            raise RuntimeError("no checkpoint yet: the pipeline must start with the 'init' stage")
        return list(checkpoints.values())[-1]

    def is_done(self, name: str) -> bool:
        entry = self.summary["stages"].get(name)
        if not entry or entry["status"] != "completed":
            return False
        return entry.get("checkpoint") is None or Path(entry["checkpoint"]).exists()

    def record(self, name: str, status: str, seconds: float, result: StageResult | None = None, error: str = "") -> None:
        metrics = dict(result.metrics) if result else {}
        if error:
            metrics["error"] = error
        self.summary["stages"][name] = {
            "status": status,
            "seconds": round(seconds, 3),
            "checkpoint": result.checkpoint if result else None,
            "metrics": metrics,
        }
        self.save()

    def save(self) -> None:
        """Write ``summary.json`` atomically, so an interruption never leaves it half-written."""
        tmp = self.summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.summary, indent=2))
        os.replace(tmp, self.summary_path)


def run_pipeline(cfg) -> Run:
    """Run ``cfg.pipeline.stages`` in ``cfg.run_dir``; returns the finished ``Run``."""
    run = Run(cfg.run_dir)
    (run.dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    # Import every stage up front, so a broken install fails now rather than after hours of training.
    stages = {name: importlib.import_module(STAGES[name]) for name in cfg.pipeline.stages}
    for name, stage in stages.items():
        if run.is_done(name):
            logger.info("stage %s: already completed in %s, skipping", name, run.dir)
            continue
        logger.info("stage %s: starting", name)
        start = time.perf_counter()
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
