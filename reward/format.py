"""Output-format rewards: the model should think, then answer, and say nothing else."""

from __future__ import annotations

import re

from rlreason.reward.parsing import completion_text

_THINK_ANSWER = re.compile(r"^\s*<think>(?:(?!<think>).)*?</think>\s*<answer>(?:(?!<answer>).)+?</answer>\s*$", re.DOTALL)


def think_answer_format(completions, task=None, **kwargs) -> list[float | None]:
    """1.0 for exactly ``<think>…</think><answer>…</answer>``, else 0.0; None on tool-calling rows, whose
    replies are calls (scored by ``tool_call``)."""
    task = task or [None] * len(completions)
    return [
        None if kind == "tool_calling" else float(bool(_THINK_ANSWER.match(completion_text(c))))
        for c, kind in zip(completions, task)
    ]
