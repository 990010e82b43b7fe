"""Honest resume: a run dir says what produced each stage, and a re-run reuses only what is still valid.

Each stage's entry in ``summary.json`` records the attempt that ran it (``attempts/<n>.yaml`` holds that
attempt's resolved config), a digest of the config keys the stage depends on (its module's ``CONFIG_KEYS``)
and a fingerprint of every checkpoint it could read when it started. Before anything runs, :func:`plan`
decides for each stage of the pipeline:

* **skip** a completed stage whose checkpoint still exists, whose inputs are unchanged and whose config is
  the same;
* **re-run** it, and every stage after it, when its checkpoint is gone or an input checkpoint changed (the log
  says which); an earlier stage that runs again re-runs everything after it;
* **continue** an interrupted stage from its last trainer checkpoint (the stage resumes itself);
* when the config changed for a completed or interrupted stage, follow ``resume.on_change``: ``refuse``
  (default; the error lists every changed key, old -> new), ``rerun`` the changed stages and everything after
  them, or ``keep`` them as they are (the changed keys are recorded in the stage's entry).

A stage that runs again from scratch first moves its old folder to ``superseded/<label>.attempt<n>``: nothing
is deleted. A checkpoint's fingerprint is its files' relative paths, sizes and modification times (what
``make`` trusts), so it is cheap for a checkpoint of any size; copying a run dir without keeping times
(``cp -r`` rather than ``cp -a``, ``rsync -a``) makes its stages look changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

from rlreason.errors import UserError

logger = logging.getLogger(__name__)

# Settings that change how a stage runs, not what it produces: changing them never invalidates a stage.
EXECUTION_KEYS = (
    "sft.logging_steps",
    "sft.save_steps",
    "sft.save_total_limit",
    "grpo.logging_steps",
    "grpo.save_steps",
    "grpo.save_total_limit",
    "rollout.server",
    "rollout.kv_cache_gib",
    "rollout.gpu_memory_utilization",
    "rejection_sampling.batch_size",
    "eval.batch_size",
    "eval.fail_on_regression",
)


class OnChange(str, Enum):
    """What a re-run does when the config changed for a completed or interrupted stage."""

    refuse = "refuse"
    rerun = "rerun"
    keep = "keep"


@dataclass
class ResumeConfig:
    """``resume``: re-running a command with the same ``run_dir`` (see ``rlreason/resume.py``)."""

    on_change: OnChange = OnChange.refuse
    # The run dir's lock (rlreason/run_lock.py): go on without it when another host holds it; and how long to wait
    # for a holder to let go (None: 120 s for a requeued Slurm attempt, else 0)
    force_unlock: bool = False
    lock_wait_s: Optional[int] = None


def stage_config(cfg, keys: tuple[str, ...]) -> dict[str, object]:
    """The resolved values under ``keys`` (sections, dotted sub-sections or scalars), flattened to dotted keys."""
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True) if not isinstance(cfg, dict) else cfg
    flat: dict[str, object] = {}

    def visit(prefix: str, value) -> None:
        if prefix.startswith(EXECUTION_KEYS):
            return
        if isinstance(value, dict):
            for key, item in value.items():
                visit(f"{prefix}.{key}", item)
        elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
            for index, item in enumerate(value):
                visit(f"{prefix}.{index}", item)
        else:
            flat[prefix] = value

    for key in keys:  # a section ("grpo"), or a sub-section ("model.lora")
        node = container
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            visit(key, node)
    return flat


def digest(values) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(path: str | Path) -> str | None:
    """A digest of a checkpoint folder's (or file's) relative paths, sizes and modification times; None if gone."""
    root = Path(path)
    if not root.exists():
        return None
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return digest(
        [(str(p.relative_to(root)) if p != root else p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    )


def fingerprints(paths) -> dict[str, str | None]:
    return {str(path): fingerprint(path) for path in paths}


def changes(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` for every key whose value differs (``(unset)`` where one side lacks it)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, "(unset)"), new.get(key, "(unset)")
        if before != after:
            lines.append(f"{key}: {before} -> {after}")
    return lines


@dataclass
class Step:
    """What the pipeline does with one stage on this attempt."""

    action: str  # "skip" | "run" (from scratch) | "continue" (an interrupted stage, from its checkpoint)
    reason: str = ""
    kept_changes: list[str] = field(default_factory=list)  # resume.on_change=keep: what changed but was kept


def _recorded_config(run, entry: dict) -> dict | None:
    """The stage's config keys as the attempt that ran it resolved them; None when not recorded."""
    attempt = entry.get("attempt")
    path = run.attempt_config(attempt) if attempt else None
    if path is None or not path.exists():
        return None
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def _changed_inputs(entry: dict) -> list[str]:
    return [path for path, recorded in (entry.get("inputs") or {}).items() if fingerprint(path) != recorded]


def plan(cfg, run, stages: dict) -> dict[str, Step]:
    """A :class:`Step` per stage label of ``stages`` (label -> stage module); raises ``UserError`` listing every
    changed key when ``resume.on_change=refuse`` and the config changed for a stage that ran."""
    on_change = OnChange(cfg.resume.on_change)
    steps: dict[str, Step] = {}
    refused: dict[str, list[str]] = {}
    rerun_from: str | None = None
    for label, module in stages.items():
        entry = run.summary["stages"].get(label)
        if rerun_from is not None:
            steps[label] = Step("run", f"{rerun_from} runs, so every stage after it runs again" if entry else "")
            continue
        if entry is None:
            steps[label] = Step("run")
            rerun_from = label
            continue
        status = entry["status"]
        checkpoint = entry.get("checkpoint")
        changed_inputs = _changed_inputs(entry)
        recorded = _recorded_config(run, entry)
        new = stage_config(cfg, module.CONFIG_KEYS)
        if recorded is not None:
            changed = changes(stage_config(recorded, module.CONFIG_KEYS), new)
        else:
            changed = (
                []
                if entry.get("config_digest") in (None, digest(new))
                else ["(the recorded config is gone; its digest differs)"]
            )
        if status == "completed" and checkpoint and not Path(checkpoint).exists():
            steps[label] = Step("run", f"its checkpoint {checkpoint} is gone")
        elif changed_inputs:
            steps[label] = Step("run", f"its input checkpoint(s) changed since it ran: {', '.join(changed_inputs)}")
        elif changed and status == "failed":
            steps[label] = Step("run", f"it failed, and its config changed: {'; '.join(changed)}")
        elif changed and on_change is OnChange.refuse:
            refused[f"{label} ({status})"] = changed
            continue
        elif changed and on_change is OnChange.rerun:
            steps[label] = Step("run", f"its config changed (resume.on_change=rerun): {'; '.join(changed)}")
        elif status == "completed":
            steps[label] = Step("skip", kept_changes=changed)
            continue
        else:
            steps[label] = Step(
                "continue",
                f"its last attempt ended {status}; it continues from its last checkpoint, if it saved one",
                kept_changes=changed,
            )
        if steps[label].action == "run":
            rerun_from = label
    if refused:
        keys = sorted({line for lines in refused.values() for line in lines})
        raise UserError(
            f"run_dir={run.dir}: the config differs from the one that ran {', '.join(refused)}: {'; '.join(keys)}. "
            "Use a new run_dir; or resume.on_change=rerun to run the changed stages (and every later one) again; "
            "or resume.on_change=keep to keep them as they are (recorded in summary.json)"
        )
    return steps
