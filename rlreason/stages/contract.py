"""The stage contract: what every stage gets (the run dir) and returns (a ``StageResult``), and how repeated
stages are labelled. Stages import this module, never the runner (``rlreason/pipeline.py``).

``summary.json``, which other tools read::

    {"stages": {"<label>": {"status": "completed|failed|skipped", "seconds": float,
                            "checkpoint": path|null, "metrics": {...}}},
     "evals": {"<checkpoint_label>": {"<task>": {...}, ...}},
     "gates": [...]}

A pipeline may repeat a stage (``r1_full`` runs sft and grpo twice): the second run of ``sft`` is labelled
``sft_2`` in the run dir, ``summary.json`` and W&B.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rlreason.stages import STAGES


@dataclass
class StageResult:
    """What a stage returns: the checkpoint it saved (None if it makes none) and its metrics for ``summary.json``."""

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
