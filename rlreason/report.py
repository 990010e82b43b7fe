"""The console summary printed at the end of a pipeline run."""

from __future__ import annotations

from rlreason.evals import retention
from rlreason.tasks import TASKS

# The metrics worth a column for each task (and the retention measure), in the order they are printed.
MAIN_METRICS = {**{name: task.main_metrics for name, task in TASKS.items()}, retention.SUITE: ("nll", "nll_change")}


def _made(entry: dict) -> str:
    """What a stage produced: its policy checkpoint, or a reward model and its held-out pairwise accuracy."""
    metrics = entry.get("metrics") or {}
    if not entry.get("checkpoint") and metrics.get("model") and metrics.get("accuracy") is not None:
        return f"{metrics['model']} (reward model; held-out pairwise accuracy {metrics['accuracy']:.3f})"
    return entry.get("checkpoint") or "-"


def format_summary(summary: dict) -> str:
    """A plain-text table of stages, each checkpoint's eval scores, and the gate verdicts."""
    lines = [f"{'stage':<12} {'status':<10} {'seconds':>8}  checkpoint"]
    for name, entry in summary["stages"].items():
        lines.append(f"{name:<12} {entry['status']:<10} {entry['seconds']:>8.1f}  {_made(entry)}")
    if summary["evals"]:
        lines += ["", f"{'checkpoint':<12} {'suite':<18} scores"]
        for label, suites in summary["evals"].items():
            for suite, scores in suites.items():
                shown = [f"{m}={scores[m]:.3f}" for m in MAIN_METRICS.get(suite, ()) if m in scores]
                lines.append(f"{label:<12} {suite:<18} {'  '.join(shown)}")
    if summary["gates"]:
        lines += ["", f"{'gate':<40} {'change':>8}  {'95% CI':<18} verdict"]
        for g in summary["gates"]:
            name = f"{g['checkpoint']} vs {g['baseline']}: {g['suite']}/{g['metric']}"
            interval = f"[{g['ci_low']:+.3f}, {g['ci_high']:+.3f}]"
            lines.append(f"{name:<40} {g['change']:>+8.3f}  {interval:<18} {'pass' if g['passed'] else 'FAIL'}")
    return "\n".join(lines)


def print_summary(run) -> None:
    print(format_summary(run.summary))
    print(f"\nsummary: {run.summary_path}")
