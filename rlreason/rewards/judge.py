"""``llm_judge``: a reward that asks a chat model behind any OpenAI-compatible endpoint (a vLLM server, a hosted
API) to grade each completion, and the client it shares with the eval stage's refusal judge.

:class:`ChatClient` sends chat-completion requests with the ``openai`` library's async client (its timeouts, and
its retries with exponential backoff on connection errors, timeouts, 429 and 5xx), at most ``concurrency`` at
a time, and keeps every answer in an on-disk cache (SQLite) keyed by the request content and the judge's
settings, so a resumed run or a re-evaluation does not pay twice. The API key is read from the environment
variable ``api_key_env`` when a request is made; it is never stored in the config, the cache or the run dir.

:class:`LLMJudge` fills ``template`` with each sample (``{prompt}``, ``{completion}`` and any dataset column),
reads the first number of the reply (``score_pattern``) and scales it from ``[min_score, max_score]`` to
``[0, 1]``. A reply without a valid score, a timeout or an unreachable server fails that sample: with
``reward.on_error=raise`` the run stops naming the judge, its URL and the reply; with ``none`` the sample
scores None and ``rewards/llm_judge/failed`` shows the share. With ``extra_body`` a vLLM judge can be held to
a valid answer (``{"structured_outputs": {"regex": "[0-9]|10"}}``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sqlite3
import threading
import weakref
from pathlib import Path

from rlreason.rewards.guard import PartialRewardError, RewardSpecError
from rlreason.tasks.common import completion_text, request_text

DEFAULT_TEMPLATE = (
    "Rate the assistant's reply to the user's request on a scale from 0 (wrong, unhelpful or harmful) to 10 "
    "(correct, helpful and safe).\nRequest: {prompt}\nReply: {completion}\nAnswer with the number only."
)


class JudgeError(RuntimeError):
    """A judge request failed after its retries, or its reply had no usable answer."""


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/rlreason/judge.sqlite`` (``~/.cache`` by default): shared by runs, keyed per judge."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rlreason" / "judge.sqlite"


class AnswerCache:
    """Judge answers on disk (SQLite, safe across threads and processes), keyed by a hash of the request."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self.db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        self.db.commit()

    def get(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, answer: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, answer))
            self.db.commit()


class ChatClient:
    """Chat completions from an OpenAI-compatible server: bounded concurrency, retries, timeouts, a disk cache."""

    def __init__(self, url: str, model: str = "judge", api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 max_retries: int = 2, concurrency: int = 8, cache: str | Path | None = "auto", max_tokens: int = 8,
                 temperature: float = 0.0, extra_body: dict | None = None):
        if concurrency < 1:
            raise RewardSpecError(f"judge concurrency: got {concurrency}; must be >= 1")
        self.url = url.rstrip("/")
        self.model, self.api_key_env, self.timeout, self.max_retries = model, api_key_env, timeout, max_retries
        self.concurrency, self.max_tokens, self.temperature = concurrency, max_tokens, temperature
        self.extra_body = dict(extra_body or {})
        self.cache = AnswerCache(default_cache() if cache == "auto" else cache) if cache else None
        self.requests = self.cache_hits = 0
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # an async client per event loop
        # (an httpx client is bound to the loop it first ran on; the eval judge runs a new loop per call)

    def __repr__(self) -> str:  # never the key
        return f"ChatClient(url={self.url!r}, model={self.model!r})"

    def key(self, content: str) -> str:
        """The cache key: the request and every setting that changes the answer."""
        settings = {"content": content, "model": self.model, "max_tokens": self.max_tokens,
                    "temperature": self.temperature, "extra_body": self.extra_body}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def _client(self):
        from openai import AsyncOpenAI

        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients[loop] = AsyncOpenAI(base_url=f"{self.url}/v1", api_key=os.environ.get(self.api_key_env) or "EMPTY",
                                              timeout=self.timeout, max_retries=self.max_retries)
        return self._clients[loop]

    async def ask(self, content: str, limit: asyncio.Semaphore) -> str:
        """The model's reply to one user message (from the cache when it has answered it before)."""
        import openai

        key = self.key(content)
        if self.cache and (cached := self.cache.get(key)) is not None:
            self.cache_hits += 1
            return cached
        async with limit:
            self.requests += 1
            try:
                response = await self._client().chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": content}], max_tokens=self.max_tokens,
                    temperature=self.temperature, extra_body=self.extra_body or None,
                )
            except openai.APITimeoutError as error:
                raise JudgeError(f"{self.url}: no answer within {self.timeout:g} s (timeout), {self.max_retries} retries") from error
            except openai.APIConnectionError as error:
                raise JudgeError(f"{self.url}: cannot connect ({error.__cause__ or error}), {self.max_retries} retries") from error
            except openai.APIStatusError as error:
                raise JudgeError(f"{self.url}: answered {error.status_code}: {str(error.message)[:300]}") from error
        answer = response.choices[0].message.content or ""
        if self.cache:
            self.cache.put(key, answer)
        return answer

    async def ask_all(self, contents: list[str]) -> list[str | JudgeError]:
        """Every reply, concurrently (at most ``concurrency`` requests in flight); a failure in its place."""
        limit = asyncio.Semaphore(self.concurrency)
        return await asyncio.gather(*(self.ask(c, limit) for c in contents), return_exceptions=True)

    def ask_all_sync(self, contents: list[str]) -> list[str | JudgeError]:
        """:meth:`ask_all` from synchronous code (the eval stage)."""
        return asyncio.run(self.ask_all(contents))


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

    def __init__(self, url: str, model: str = "judge", template: str = DEFAULT_TEMPLATE, min_score: float = 0.0,
                 max_score: float = 10.0, score_pattern: str = r"-?\d+(?:\.\d+)?", tasks: list[str] | None = None,
                 **client_kwargs):
        if max_score <= min_score:
            raise RewardSpecError(f"llm_judge: max_score ({max_score}) must be above min_score ({min_score})")
        if "{completion}" not in template:
            raise RewardSpecError("llm_judge: the template must contain {completion} (the reply to grade)")
        self.client = ChatClient(url, model, **client_kwargs)
        self.template, self.low, self.high = template, min_score, max_score
        self.pattern = re.compile(score_pattern)
        self.tasks = set(tasks) if tasks else None

    def contents(self, prompts, completions, columns: dict) -> list[str]:
        rows = [{key: values[i] for key, values in columns.items() if isinstance(values, list) and len(values) == len(prompts)}
                for i in range(len(prompts))]
        return [self.template.format_map(_Row(row, prompt=request_text(p), completion=completion_text(c)))
                for p, c, row in zip(prompts, completions, rows)]

    async def __call__(self, prompts, completions, **kwargs) -> list[float | None]:
        kinds = kwargs.get("task") or [None] * len(prompts)
        keep = [i for i, kind in enumerate(kinds) if self.tasks is None or kind in self.tasks]
        columns = {k: [v[i] for i in keep] for k, v in kwargs.items() if isinstance(v, list) and len(v) == len(prompts)}
        replies = await self.client.ask_all(self.contents([prompts[i] for i in keep], [completions[i] for i in keep], columns))
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
                f"reward 'llm_judge' ({self.client.url}): {len(errors)} of {len(keep)} samples failed; first: {errors[0]}", values
            )
        return values
