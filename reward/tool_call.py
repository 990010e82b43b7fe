"""Tool-call correctness: the function-calling eval's BFCL-style checker, as a reward."""

from __future__ import annotations

import json

from rlreason.evals.function_calling import FunctionCallingExample, check


def tool_call(completions, task=None, functions=None, expected_calls=None, **kwargs) -> list[float | None]:
    """1.0 when a completion makes exactly the expected calls (or none, for irrelevance), else 0.0.

    Reads the ``functions`` and ``expected_calls`` columns (JSON strings) of tool-calling rows and returns
    None for rows of other tasks, so TRL leaves them to the other rewards.
    """
    task = task or [None] * len(completions)
    scores = []
    for completion, kind, offered, expected in zip(completions, task, functions or task, expected_calls or task):
        if kind != "tool_calling":
            scores.append(None)
            continue
        example = FunctionCallingExample(prompt=[], functions=json.loads(offered), expected=json.loads(expected))
        scores.append(float(check(completion, example).correct))
    return scores
