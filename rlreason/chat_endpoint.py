"""Chat completions from an OpenAI-compatible endpoint (a vLLM server, a hosted API), for the two judges: the
``llm_judge`` reward (:mod:`rlreason.rewards.judge`) and the eval stage's refusal judge
(:mod:`rlreason.evals.judge`). A leaf module: it imports nothing else of rlreason but its errors.

:class:`ChatClient` sends chat-completion requests with the ``openai`` library's async client (its timeouts, and
its retries with exponential backoff on connection errors, timeouts, 429 and 5xx), at most ``concurrency`` at
a time, and keeps every answer in an on-disk cache (SQLite) keyed by the request content and the judge's
settings, so a resumed run or a re-evaluation does not pay twice. The API key is read from the environment
variable ``api_key_env`` when a request is made; it is never stored in the config, the cache or the run dir.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import weakref
from pathlib import Path

from rlreason.errors import UserError


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

    def __init__(
        self,
        url: str,
        model: str = "judge",
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 2,
        concurrency: int = 8,
        cache: str | Path | None = "auto",
        max_tokens: int = 8,
        temperature: float = 0.0,
        extra_body: dict | None = None,
    ):
        if concurrency < 1:
            raise UserError(f"judge concurrency: got {concurrency}; must be >= 1")
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
        settings = {
            "content": content,
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "extra_body": self.extra_body,
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def _client(self):
        from openai import AsyncOpenAI

        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients[loop] = AsyncOpenAI(
                base_url=f"{self.url}/v1",
                api_key=os.environ.get(self.api_key_env) or "EMPTY",
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
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
                    model=self.model,
                    messages=[{"role": "user", "content": content}],
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    extra_body=self.extra_body or None,
                )
            except openai.APITimeoutError as error:
                raise JudgeError(
                    f"{self.url}: no answer within {self.timeout:g} s (timeout), {self.max_retries} retries"
                ) from error
            except openai.APIConnectionError as error:
                raise JudgeError(
                    f"{self.url}: cannot connect ({error.__cause__ or error}), {self.max_retries} retries"
                ) from error
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
