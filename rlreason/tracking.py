"""Weights & Biases runs (offline by default) and the PNG plots saved in the run dir."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

from rlreason.distributed.comm import is_main_process


@dataclass
class LoggerConfig:
    """``conf/logger/``: ``wandb`` (offline unless ``mode=online``: runs land in ``${run_dir}/wandb`` and
    ``wandb sync`` uploads them later) or ``none`` (plots and ``summary.json`` are still written)."""

    name: str = "wandb"
    project: str = "rlreason"
    mode: str = "offline"
    entity: Optional[str] = None
    # the W&B group of the run's stages: the run dir's name by default; in a sweep (-m) the sweep's folder,
    # so every run of the sweep lands in one group
    group: Optional[str] = None

    def __post_init__(self) -> None:
        if self.name not in ("wandb", "none"):
            raise ValueError(f"logger.name: got {self.name!r}; allowed: 'wandb', 'none'")
        if self.mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.mode: got {self.mode!r}; allowed: 'offline', 'online', 'disabled'")


def report_to(cfg) -> list[str]:
    """What TRL's ``report_to`` should be for ``cfg.logger``."""
    return ["wandb"] if cfg.logger.name == "wandb" else []


@contextlib.contextmanager
def stage_run(cfg, run, stage: str):
    """One W&B run per stage, grouped by pipeline run; TRL's W&B callback logs into it (rank 0's only, in a
    multi-process stage)."""
    if cfg.logger.name != "wandb" or not is_main_process():
        yield None
        return
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    stage = run.label(stage)
    wandb_run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        mode=cfg.logger.mode,
        dir=str(run.dir),
        group=cfg.logger.group or run.id,
        name=f"{cfg.logger.group}-{run.id}-{stage}" if cfg.logger.group else f"{run.id}-{stage}",
        job_type=stage,
        tags=[cfg.pipeline.name],
        config={"stage": stage, **OmegaConf.to_container(cfg, resolve=True)},
        reinit="finish_previous",
    )
    try:
        yield wandb_run
    finally:
        wandb_run.finish()


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display here), imported when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(log_history: list[dict], path: Path, keys: list[str], title: str) -> Path | None:
    """Line plot of the given logged metrics over training steps (reward curves, losses)."""
    series = {k: [(h["step"], h[k]) for h in log_history if k in h and "step" in h] for k in keys}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, points in series.items():
        ax.plot(*zip(*points), label=key)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_accuracy(accuracies: dict[str, dict[str, float]], path: Path) -> Path:
    """Grouped bars: each checkpoint's held-out accuracy under each decoding."""
    labels = list(accuracies)
    metrics = sorted({m for values in accuracies.values() for m in values})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(len(metrics), 1)
    for i, metric in enumerate(metrics):
        ax.bar(
            [x + i * width for x in range(len(labels))],
            [accuracies[label].get(metric, 0) for label in labels],
            width,
            label=metric,
        )
    ax.set_xticks([x + width * (len(metrics) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
