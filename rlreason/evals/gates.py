"""Regression gates: is a checkpoint worse than its baseline by more than a threshold, beyond noise?

Scores are compared per example (the same examples, paired), and a bootstrap over examples gives a
confidence interval for the change. A gate fails when the measured drop exceeds ``max_drop`` *and* the
interval excludes no change, so a small eval's noise alone cannot fail a run, and a real regression can.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Gate:
    """One threshold (``conf/eval/gates.yaml``): ``metric`` of ``suite`` may drop by at most ``max_drop``."""

    suite: str
    metric: str
    max_drop: float = 0.05
    higher_is_better: bool = True


@dataclass
class GatesConfig:
    """``conf/eval/gates.yaml``: the thresholds, and how the bootstrap interval is drawn."""

    thresholds: list[Gate] = field(default_factory=list)
    confidence: float = 0.95
    num_bootstrap: int = 1000


@dataclass
class GateResult:
    suite: str
    metric: str
    checkpoint: str
    baseline: str
    baseline_value: float
    value: float
    change: float
    ci_low: float
    ci_high: float
    max_drop: float
    passed: bool


def bootstrap_change(
    candidate, baseline, *, num_bootstrap: int, confidence: float, seed: int
) -> tuple[float, float, float]:
    """Mean change (candidate - baseline) over paired per-example scores, with a percentile bootstrap CI."""
    candidate, baseline = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if candidate.shape != baseline.shape or candidate.size == 0:
        raise ValueError(
            f"gates need the same non-empty examples on both sides, got {candidate.size} and {baseline.size}"
        )
    differences = candidate - baseline
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, differences.size, size=(num_bootstrap, differences.size))
    means = differences[samples].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(differences.mean()), float(low), float(high)


def evaluate_gate(
    gate: Gate, checkpoint: str, candidate, baseline_label: str, baseline, cfg: GatesConfig, seed: int
) -> GateResult:
    """``candidate`` and ``baseline``: per-example scores of ``gate.metric`` on the same examples."""
    change, low, high = bootstrap_change(
        candidate, baseline, num_bootstrap=cfg.num_bootstrap, confidence=cfg.confidence, seed=seed
    )
    # Express everything as "improvement" so one rule serves metrics where lower is better.
    sign = 1.0 if gate.higher_is_better else -1.0
    improvement, upper = sign * change, max(sign * low, sign * high)
    regressed = improvement < -gate.max_drop and upper < 0
    return GateResult(
        suite=gate.suite,
        metric=gate.metric,
        checkpoint=checkpoint,
        baseline=baseline_label,
        baseline_value=float(np.mean(baseline)),
        value=float(np.mean(candidate)),
        change=change,
        ci_low=low,
        ci_high=high,
        max_drop=gate.max_drop,
        passed=not regressed,
    )


def markdown_report(results: list[GateResult]) -> str:
    """The gate verdicts as a markdown table (written to the run dir next to the chart)."""
    lines = [
        "| checkpoint | suite | metric | baseline | value | change | 95% CI | max drop | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "pass" if r.passed else "**FAIL**"
        lines.append(
            f"| {r.checkpoint} | {r.suite} | {r.metric} | {r.baseline_value:.3f} ({r.baseline}) | {r.value:.3f} | "
            f"{r.change:+.3f} | [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.max_drop:.3f} | {verdict} |"
        )
    return "\n".join(lines) + "\n"
