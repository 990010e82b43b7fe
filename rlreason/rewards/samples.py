"""A reward called as TRL calls it, on sample GRPO rows: each row with a reply its task's checker accepts, then
with a wrong one. The pre-flight's check of ``reward.functions`` and ``rlreason rewards check`` both use it.
No tokenizer is at hand there, so ``completion_ids`` (which TRL passes too) holds each reply's UTF-8 bytes, one
id per byte: enough for a reward that reads lengths or checks its signature."""

from __future__ import annotations

from rlreason.tasks import TASKS
from rlreason.tasks.common import think_answer


def correct_reply(row: dict) -> str:
    """A reply its task's checker accepts, for a GRPO row (a reasoning answer for rows of no known task)."""
    task = TASKS.get(row.get("task"))
    return task.gold_completion(task.from_row(row)) if task else think_answer("", row.get("answer") or "no answer")


def sample_call(reward, rows: list[dict]):
    """Call ``reward`` as TRL does on ``rows``: each row with a correct reply, then each with a wrong one (the
    scores, or the coroutine of an async reward)."""
    replies = [correct_reply(row) for row in rows] + ["not an answer"] * len(rows)
    rows = rows + rows
    completions = [
        [{"role": "assistant", "content": r}] if isinstance(row["prompt"], list) else r for row, r in zip(rows, replies)
    ]
    columns = {key: [row.get(key) for row in rows] for key in rows[0] if key != "prompt"}
    completion_ids = [list(reply.encode()) for reply in replies]
    return reward(
        prompts=[row["prompt"] for row in rows], completions=completions, completion_ids=completion_ids, **columns
    )
