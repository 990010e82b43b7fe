"""``llm_judge``: a reward that asks a chat model behind any OpenAI-compatible endpoint (a vLLM server, a hosted
API) to grade each completion, through the client the eval stage's refusal judge uses too
(:class:`rlreason.chat_endpoint.ChatClient`: bounded concurrency, retries, timeouts, an answer cache, the API
key read from the environment at request time).

:class:`LLMJudge` fills ``template`` with each sample (``{prompt}``, ``{completion}`` and any dataset column),
reads the first number of the reply (``score_pattern``) and scales it from ``[min_score, max_score]`` to
``[0, 1]``. A reply without a valid score, a timeout or an unreachable server fails that sample: with
``reward.on_error=raise`` the run stops naming the judge, its URL and the reply; with ``none`` the sample
scores None and ``rewards/llm_judge/failed`` shows the share. With ``extra_body`` a vLLM judge can be held to
a valid answer (``{"structured_outputs": {"regex": "[0-9]|10"}}``).
"""

from __future__ import annotations

import re

from rlreason.chat_endpoint import ChatClient, JudgeError
from rlreason.rewards.guard import PartialRewardError, RewardSpecError
from rlreason.tasks.common import completion_text, request_text

DEFAULT_TEMPLATE = (
    "Rate the assistant's reply to the user's request on a scale from 0 (wrong, unhelpful or harmful) to 10 "
    "(correct, helpful and safe).\nRequest: {prompt}\nReply: {completion}\nAnswer with the number only."
)


def parse_score(reply: str, pattern: re.Pattern, low: float, high: float) -> float:
    """The first number of ``reply`` in ``[low, high]``, scaled to ``[0, 1]``; ``JudgeError`` when there is none."""
    found = pattern.search(reply)
    if not found:
        raise JudgeError(f"reply {reply[:80]!r} holds no score")
    value = float(found.group(0))
    if not low <= value <= high:
        raise JudgeError(f"reply {reply[:80]!r}: score {value:g} outside [{low:g}, {high:g}]")
    return (value - low) / (high - low)


class _Row(dict):
    """Template fields: a missing one is an error naming it and the fields there are."""

    def __missing__(self, key):
        raise KeyError(f"llm_judge template field {{{key}}} is not a column; fields: {sorted(self)}")


class LLMJudge:
    """A reward graded by a chat model: ``template`` filled per sample, the first number of the reply, scaled."""

    def __init__(
        self,
        url: str,
        model: str = "judge",
        template: str = DEFAULT_TEMPLATE,
        min_score: float = 0.0,
        max_score: float = 10.0,
        score_pattern: str = r"-?\d+(?:\.\d+)?",
        tasks: list[str] | None = None,
        **client_kwargs,
    ):
        if max_score <= min_score:
            raise RewardSpecError(f"llm_judge: max_score ({max_score}) must be above min_score ({min_score})")
        if "{completion}" not in template:
            raise RewardSpecError("llm_judge: the template must contain {completion} (the reply to grade)")
        if client_kwargs.get("concurrency", 1) < 1:
            raise RewardSpecError(f"llm_judge: concurrency got {client_kwargs['concurrency']}; must be >= 1")
        self.client = ChatClient(url, model, **client_kwargs)
        self.template, self.low, self.high = template, min_score, max_score
        self.pattern = re.compile(score_pattern)
        self.tasks = set(tasks) if tasks else None

    def contents(self, prompts, completions, columns: dict) -> list[str]:
        rows = [
            {
                key: values[i]
                for key, values in columns.items()
                if isinstance(values, list) and len(values) == len(prompts)
            }
            for i in range(len(prompts))
        ]
        return [
            self.template.format_map(_Row(row, prompt=request_text(p), completion=completion_text(c)))
            for p, c, row in zip(prompts, completions, rows)
        ]

    async def __call__(self, prompts, completions, **kwargs) -> list[float | None]:
        kinds = kwargs.get("task") or [None] * len(prompts)
        keep = [i for i, kind in enumerate(kinds) if self.tasks is None or kind in self.tasks]
        columns = {k: [v[i] for i in keep] for k, v in kwargs.items() if isinstance(v, list) and len(v) == len(prompts)}
        replies = await self.client.ask_all(
            self.contents([prompts[i] for i in keep], [completions[i] for i in keep], columns)
        )
        values: list[float | None] = [None] * len(prompts)
        errors = []
        for index, reply in zip(keep, replies):
            try:
                if isinstance(reply, BaseException):
                    raise reply
                values[index] = parse_score(reply, self.pattern, self.low, self.high)
            except JudgeError as error:
                errors.append(f"sample {index}: {error}")
        if errors:
            raise PartialRewardError(
                f"reward 'llm_judge' ({self.client.url}): {len(errors)} of {len(keep)} "
                f"samples failed; first: {errors[0]}",
                values,
            )
        return values
