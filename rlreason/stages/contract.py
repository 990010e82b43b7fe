"""The stage contract: what every stage gets (the run dir) and returns (a ``StageResult``), and how repeated
stages are labelled. Stages import this module, never the runner (``rlreason/pipeline.py``).

``summary.json``, which other tools read, is strict JSON (a non-finite number is written as ``null`` and
listed in ``non_finite`` with its value)::

    {"stages": {"<label>": {"status": "running|completed|interrupted|failed", "seconds": float,
                            "checkpoint": path|null, "metrics": {...},
                            "attempt": n, "config_digest": str, "inputs": {path: fingerprint}}},
     "evals": {"<checkpoint_label>": {"<task>": {...}, ...}},
     "gates": [...],
     "attempts": [{"number": n, "started": iso time, "config": "attempts/<n>.yaml", "environment": {...}}],
     "non_finite": {"<dotted key>": "nan|inf|-inf"}}

Every attempt (each run of the command) keeps its resolved config in ``attempts/<n>.yaml``; ``config.yaml``
is the latest one. How a re-run decides what to reuse is ``rlreason/resume.py``.

A pipeline may repeat a stage (``r1_full`` runs sft and grpo twice): the second run of ``sft`` is labelled
``sft_2`` in the run dir, ``summary.json`` and W&B.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rlreason.errors import UserError
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


def strict_json(value, path: str = "", non_finite: dict | None = None):
    """``value`` with every NaN/inf replaced by None, each recorded in ``non_finite`` under its dotted path."""
    if isinstance(value, float) and not math.isfinite(value):
        if non_finite is not None:
            non_finite[path] = str(value)
        return None
    if isinstance(value, dict):
        return {k: strict_json(v, f"{path}.{k}" if path else str(k), non_finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v, f"{path}.{i}", non_finite) for i, v in enumerate(value)]
    return value


def usable_dir(run_dir: str | Path) -> Path:
    """``run_dir`` resolved and created; a ``UserError`` when it is a file or cannot be written."""
    path = Path(run_dir).resolve()
    if path.exists() and not path.is_dir():
        raise UserError(f"run_dir={run_dir}: is a file; name a folder (new or an earlier run's, to resume)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"run_dir={run_dir}: cannot create it ({error.strerror}); name a writable folder") from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"run_dir={run_dir}: not writable; name a writable folder")
    return path


class Run:
    """The run dir and its ``summary.json``; what stages read from and write to."""

    def __init__(self, run_dir: str | Path):
        self.current: str | None = None  # the label of the stage running now, set by run_pipeline
        self.dir = usable_dir(run_dir)
        self.summary_path = self.dir / "summary.json"
        self.summary = {"stages": {}, "evals": {}, "gates": [], "attempts": []}
        if self.summary_path.exists():
            try:
                recorded = json.loads(self.summary_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise UserError(
                    f"{self.summary_path}: not valid JSON ({error}); it records what this run dir holds: restore it, "
                    "or start a new run_dir"
                ) from error
            if not isinstance(recorded, dict) or not isinstance(recorded.get("stages", {}), dict):
                raise UserError(
                    f"{self.summary_path}: not a run summary (expected an object with 'stages'); use a new run_dir"
                )
            self.summary.update(recorded)

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

    # --- attempts ------------------------------------------------------------------------------------------

    @property
    def attempt(self) -> int:
        """The number of the attempt now running (0 before :meth:`begin_attempt`)."""
        return len(self.summary["attempts"])

    def attempt_config(self, number: int) -> Path:
        return self.dir / "attempts" / f"{number}.yaml"

    def begin_attempt(self, cfg, environment: dict) -> int:
        """Record a new attempt: its resolved config in ``attempts/<n>.yaml`` (and ``config.yaml``), its environment."""
        number = self.attempt + 1
        text = OmegaConf.to_yaml(cfg, resolve=True)
        self.attempt_config(number).parent.mkdir(exist_ok=True)
        self.attempt_config(number).write_text(text)
        (self.dir / "config.yaml").write_text(text)
        self.summary["attempts"].append(
            {
                "number": number,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "config": str(self.attempt_config(number).relative_to(self.dir)),
                "environment": environment,
            }
        )
        self.save()
        return number

    def supersede(self, label: str) -> Path | None:
        """Move a stage's old folder aside (``superseded/<label>.attempt<n>``) before it runs from scratch."""
        folder = self.dir / label
        if not folder.exists():
            return None
        made_by = self.summary["stages"].get(label, {}).get("attempt", 0)
        target = self.dir / "superseded" / f"{label}.attempt{made_by}"
        n = 1
        while target.exists():
            n += 1
            target = target.with_name(f"{label}.attempt{made_by}.{n}")
        target.parent.mkdir(exist_ok=True)
        shutil.move(str(folder), target)
        self.summary["stages"].pop(label, None)
        if stage_name(label) == "eval":
            self.summary["evals"], self.summary["gates"] = {}, []
        return target

    # --- stage records -------------------------------------------------------------------------------------

    def start(self, name: str, config_digest: str, inputs: dict[str, str | None], **extra) -> None:
        """Mark a stage ``running``, with what it depends on; :meth:`record` completes the entry."""
        self.summary["stages"][name] = {
            "status": "running",
            "seconds": 0.0,
            "checkpoint": None,
            "metrics": {},
            "attempt": self.attempt,
            "config_digest": config_digest,
            "inputs": inputs,
            **extra,
        }
        self.save()

    def record(
        self, name: str, status: str, seconds: float, result: StageResult | None = None, error: str = ""
    ) -> None:
        metrics = dict(result.metrics) if result else {}
        if error:
            metrics["error"] = error
        entry = self.summary["stages"].setdefault(name, {})
        entry.update(
            {
                "status": status,
                "seconds": round(seconds, 3),
                "checkpoint": result.checkpoint if result else None,
                "metrics": metrics,
            }
        )
        self.save()

    def save(self) -> None:
        """Write ``summary.json`` atomically and as strict JSON, so an interruption never leaves it half-written
        and every parser reads it."""
        non_finite: dict[str, str] = {}
        summary = strict_json({k: v for k, v in self.summary.items() if k != "non_finite"}, non_finite=non_finite)
        if non_finite:
            summary["non_finite"] = non_finite
        tmp = self.summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False))
        os.replace(tmp, self.summary_path)


def partial_dir(final: Path, clear: bool = True) -> Path:
    """The ``<name>.partial`` sibling to write ``final`` into before :func:`publish`, emptied of whatever a save
    cut short left there (``clear``: the process that writes the files), so another model's files never end
    up in this one."""
    partial = final.with_name(f"{final.name}.partial")
    if clear:
        shutil.rmtree(partial, ignore_errors=True)
    return partial


def publish(partial: Path, final: Path) -> Path:
    """Put a folder written whole under ``partial`` (``<name>.partial``) in place of ``final`` and return it: the
    rename is atomic on one file system, so a save cut short (``kill -9``, a lost node) never leaves a ``model/``
    folder that looks complete."""
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return final
