"""The tasks: one module per skill, each owning its data, checker, rewards, evaluation and public formats.

``TASKS`` is what the rest of rlreason iterates over: the data mixer (``rlreason/data/mixer.py``) builds each
stage's rows from it, the eval stage and ``rlreason eval score`` evaluate its tasks, the report prints their
main metrics, the default regression gates are theirs, and the reward registry offers their rewards.
Adding a task is one module that ends with a :class:`~rlreason.tasks.common.Task`, one line here, and its
config sections (``data.<name>``, ``eval.<name>``).

The first task is the one RL trains by default and whose data source is configurable (``data.source``);
the others are skills mixed into SFT so that the evals can show whether RL kept them.
"""

from __future__ import annotations

from rlreason.tasks import reasoning, safety, tool_calling, tool_use
from rlreason.tasks.common import Task, completion_text, is_think_answer

TASKS: dict[str, Task] = {task.name: task for task in (reasoning.TASK, tool_calling.TASK, tool_use.TASK, safety.TASK)}


def think_answer_format(completions, task=None, **kwargs) -> list[float | None]:
    """1.0 for exactly ``<think>…</think><answer>…</answer>``, else 0.0; None on rows of tasks whose replies
    are in another format (tool calls, scored by ``tool_calling`` and ``tool_use``)."""
    kinds = task or [None] * len(completions)
    return [
        None if kind in TASKS and not TASKS[kind].think_answer_replies else float(is_think_answer(completion_text(c)))
        for c, kind in zip(completions, kinds)
    ]
