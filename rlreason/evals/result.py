"""What every eval suite returns: summary metrics, and per-example scores the gates compare."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SuiteResult:
    metrics: dict[str, float]
    # metric name -> one score per example (0/1), in dataset order, for the paired regression gates
    per_example: dict[str, list[float]] = field(default_factory=dict)
    # what the model wrote, one record per example, saved next to the metrics for inspection
    records: list[dict] = field(default_factory=list)
