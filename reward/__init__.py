"""Built-in reward functions, importable as ``rlreason.reward`` (``from rlreason.reward import accuracy``).

All take TRL's signature, ``fn(prompts, completions, **kwargs) -> list[float | None]``, so they work in TRL
scripts as they do here; each returns None on rows of other tasks. The logic lives with each task
(``rlreason/tasks/``); this module only names them.

- ``accuracy``: the ``<answer>`` equals the gold ``answer`` (math-verify), on reasoning rows;
- ``format``: ``<think>…</think><answer>…</answer>`` and nothing else, on rows whose replies use that format;
- ``tool_calling``: exactly the expected tool calls (BFCL-style checker), on tool-calling rows;
- ``tool_use``: the right final answer of a multi-turn episode, reached through tool calls, on tool-use rows;
- ``safety``: refuse harmful requests, answer benign ones, on safety rows.
"""

from rlreason.tasks import TASKS, think_answer_format

BUILTINS = {"format": think_answer_format, **{name: fn for task in TASKS.values() for name, fn in task.rewards.items()}}

accuracy = BUILTINS["accuracy"]
format = BUILTINS["format"]  # noqa: A001 - the reward's name in configs
tool_calling = BUILTINS["tool_calling"]
tool_use = BUILTINS["tool_use"]
safety = BUILTINS["safety"]

__all__ = ["BUILTINS", "accuracy", "format", "tool_calling", "tool_use", "safety"]
