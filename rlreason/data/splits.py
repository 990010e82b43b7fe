"""Train/test splits of the synthetic tasks, decided by a hash of what an example asks for (its signature),
so the same computation or call never lands in both splits, however it is worded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def split_of(signature: str, test_fraction: float) -> str:
    """Deterministic split of a signature: the same one always lands in the same split."""
    bucket = int.from_bytes(hashlib.sha256(signature.encode()).digest()[:8], "big") / 2**64
    return "test" if bucket < test_fraction else "train"


def draw(sample: Callable[[], tuple[T, str, str]], split: str, size: int, test_fraction: float, task: str, advice: str) -> list[T]:
    """``size`` distinct items of ``split`` from ``sample() -> (item, signature, key)``.

    Rejects items of the other split and repeated ``key``s, so both splits come from the same distribution;
    when ``task`` (its config key) has too few distinct items, fails with ``advice``.
    """
    items: dict[str, T] = {}
    attempts = 0
    while len(items) < size:
        attempts += 1
        if attempts > 200 * size + 10_000:
            raise ValueError(f"{task}: only {len(items)} distinct {split} examples found for size={size}; {advice}")
        item, signature, key = sample()
        if key not in items and split_of(signature, test_fraction) == split:
            items[key] = item
    return list(items.values())
