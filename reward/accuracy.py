"""Answer correctness, checked with math-verify so ``0.5``, ``1/2`` and ``\\frac{1}{2}`` all match."""

from __future__ import annotations

import logging

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from rlreason.reward.parsing import completion_text, extract_answer

_CONFIGS = [ExprExtractionConfig(), LatexExtractionConfig()]
# Timeouts are disabled on purpose (see is_correct); math-verify would warn about it on every call.
logging.getLogger("math_verify").setLevel(logging.ERROR)


def is_correct(prediction: str | None, gold: str) -> bool:
    """True when ``prediction`` is mathematically equal to ``gold`` (exact string match as a fallback)."""
    if prediction is None or not prediction.strip():
        return False
    if prediction.strip() == gold.strip():
        return True
    # math-verify's timeouts use signal.alarm, which only works on the main thread; None disables them.
    gold_parsed = parse(gold, extraction_config=_CONFIGS, parsing_timeout=None)
    pred_parsed = parse(prediction, extraction_config=_CONFIGS, parsing_timeout=None)
    return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=None))


def accuracy(completions, answer, **kwargs) -> list[float | None]:
    """1.0 when the ``<answer>`` of a completion equals the gold ``answer`` column, else 0.0.

    None for rows without a gold answer (other tasks' rows in a mixed dataset).
    """
    return [
        None if a is None else float(is_correct(extract_answer(completion_text(c)), str(a)))
        for c, a in zip(completions, answer)
    ]
