"""Reading completions the way every built-in reward and eval does."""

from __future__ import annotations

import re

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def completion_text(completion) -> str:
    """The text of a completion, whether TRL passes it as a string or as a list of chat messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content", "") for message in completion)


def extract_answer(text: str) -> str | None:
    """The content of the last ``<answer>`` tag, or ``None`` when there is none."""
    found = ANSWER.findall(text)
    return found[-1].strip() if found else None
