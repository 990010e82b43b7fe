"""Run the configured stages in a run dir, record each in ``summary.json``, resume on re-run.

``summary.json`` follows the contract in DESIGN.md::

    {"stages": {"<name>": {"status": "completed|failed|skipped", "seconds": float,
                           "checkpoint": path|null, "metrics": {...}}},
     "evals": {"<checkpoint_label>": {"reasoning": {...}, ...}},
     "gates": [...]}

Running the same command again with the same ``run_dir`` skips stages already ``completed`` (their
checkpoint must still exist) and lets an interrupted GRPO continue from its last checkpoint.

A pipeline may repeat a stage (``r1_full`` runs sft and grpo twice): the second run of ``sft`` is labelled
``sft_2`` in the run dir, ``summary.json`` and W&B.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rlreason.stages import STAGES

logger = logging.getLogger(__name__)


@dataclass
class StageResult:
    checkpoint: str | None = None
    metrics: dict = field(default_factory=dict)


def stage_labels(stages: list[str]) -> list[str]:
    """Each stage's label: its name, or ``name_2``, ``name_3``... when the pipeline repeats it."""
    seen: Counter = Counter()
    labels = []
    for name in stages:
        seen[name] += 1
        labels.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return labels


def stage_name(label: str) -> str:
    """The stage a label belongs to (``sft_2`` -> ``sft``)."""
    base, _, suffix = label.rpartition("_")
    return base if suffix.isdigit() and base in STAGES else label


class Run:
    """The run dir and its ``summary.json``; what stages read from and write to."""

    def __init__(self, run_dir: str | Path):
        self.current: str | None = None  # the label of the stage running now, set by run_pipeline
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

    def label(self, name: str) -> str:
        """The running stage's label (``sft_2``); ``name`` when a stage is called outside a pipeline."""
        return self.current or name

    def stage_dir(self, name: str) -> Path:
        path = self.dir / self.label(name)
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
