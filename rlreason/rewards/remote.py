"""Rewards over HTTP: ``rlreason serve-reward SPEC`` serves any reward, ``remote:URL`` calls one.

The protocol is OpenRLHF's remote reward model: ``POST /get_reward`` with ``{"query": [...], "prompts":
[...], "labels": [...]}`` (``query`` the full text of prompt and reply, ``labels`` the gold answers) answered
by ``{"rewards": [...], "scores": [...], "extra_logs": {...}}``. So an rlreason server scores OpenRLHF's
requests, and ``remote:`` scores against an OpenRLHF-style server. rlreason's client also sends what TRL
handed the reward (``raw``: the prompts and completions as they were, chat messages included, and every
JSON-serializable dataset column), which an rlreason server uses so that the served reward sees exactly
what it would see in process; other servers ignore the key.

A reward model can so live on another node (``rlreason serve-reward rm:runs/x/reward_model/model`` there,
``fn: remote:http://that-node:5000`` here). The server answers one request at a time per reward (a model
is not thread-safe); ``GET /health`` names the reward it serves.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from rlreason.rewards.guard import RewardError, call
from rlreason.tasks.common import completion_text, request_text

logger = logging.getLogger(__name__)

# keyword arguments TRL passes to every reward that are not dataset columns
TRAINER_KWARGS = ("completion_ids", "trainer_state", "log_metric", "log_extra", "environments")


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def request_body(prompts, completions, columns: dict) -> dict:
    """OpenRLHF's request for these samples, with rlreason's ``raw`` copy of what TRL passed."""
    prompt_texts = [p if isinstance(p, str) else request_text(p) for p in prompts]
    replies = [completion_text(c) for c in completions]
    kept = {
        k: v
        for k, v in columns.items()
        if k not in TRAINER_KWARGS and isinstance(v, list) and len(v) == len(prompts) and all(_jsonable(x) for x in v)
    }
    return {
        "query": [p + r for p, r in zip(prompt_texts, replies)],
        "prompts": prompt_texts,
        "labels": kept.get("answer") or [None] * len(prompts),
        "raw": {"prompts": list(prompts), "completions": list(completions), "columns": kept},
    }


class RemoteReward:
    """``remote:URL``: scores by ``POST URL/get_reward``; async, so TRL overlaps it with the other async rewards.

    ``max_retries`` retries a failed connection (httpx's transport retries); a server's error answer is not
    retried: it is the reward's own failure, reported with the server's message.
    """

    def __init__(self, url: str, timeout: float = 60.0, max_retries: int = 2):
        self.url = url.rstrip("/")
        self.endpoint = self.url if self.url.endswith("/get_reward") else f"{self.url}/get_reward"
        self.timeout, self.max_retries = timeout, max_retries

    async def __call__(self, prompts, completions, **kwargs) -> list[float | None]:
        body = request_body(prompts, completions, kwargs)
        transport = httpx.AsyncHTTPTransport(retries=self.max_retries)
        async with httpx.AsyncClient(transport=transport, timeout=self.timeout) as client:
            try:
                response = await client.post(self.endpoint, json=body)
            except httpx.TimeoutException as error:
                raise RewardError(
                    f"reward 'remote' {self.endpoint}: no answer within {self.timeout:g} s (timeout)"
                ) from error
            except httpx.HTTPError as error:
                raise RewardError(
                    f"reward 'remote' {self.endpoint}: {type(error).__name__}: {error} "
                    f"(after {self.max_retries} retries); is the server running?"
                ) from error
        if response.status_code != 200:
            raise RewardError(f"reward 'remote' {self.endpoint} answered {response.status_code}: {response.text[:500]}")
        try:
            rewards = response.json()["rewards"]
        except (ValueError, KeyError, TypeError) as error:
            raise RewardError(
                f"reward 'remote' {self.endpoint}: the answer has no 'rewards' list: {response.text[:300]}"
            ) from error
        return rewards


def score_request(reward, body: dict) -> list[float | None]:
    """Score one ``/get_reward`` body: rlreason's ``raw`` samples, or OpenRLHF's query / prompts / labels."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), list):
        raise ValueError('expected a JSON object {"query": [...], "prompts": [...], "labels": [...]}')
    raw = body.get("raw")
    if isinstance(raw, dict):
        return call(reward, prompts=raw["prompts"], completions=raw["completions"], **raw.get("columns", {}))
    queries = body["query"]
    prompts = body.get("prompts") or [""] * len(queries)
    if len(prompts) != len(queries):
        raise ValueError(f"'prompts' has {len(prompts)} entries for {len(queries)} queries")
    completions = [q[len(p) :] if q.startswith(p) else q for q, p in zip(queries, prompts)]
    labels = body.get("labels")
    columns = {"answer": [None if label is None else str(label) for label in labels]} if labels else {}
    return call(reward, prompts=prompts, completions=completions, **columns)


def make_server(reward, host: str = "127.0.0.1", port: int = 5000) -> ThreadingHTTPServer:
    """An HTTP server for ``reward`` (a guarded reward, :mod:`rlreason.rewards.guard`); ``serve_forever`` runs it."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path.rstrip("/") in ("/health", ""):
                self._answer(200, {"status": "ok", "reward": reward.__name__})
            else:
                self._answer(404, {"error": f"no {self.path}; POST /get_reward, GET /health"})

        def do_POST(self):  # noqa: N802
            if self.path.rstrip("/") != "/get_reward":
                self._answer(404, {"error": f"no {self.path}; POST /get_reward"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            except json.JSONDecodeError as error:
                self._answer(400, {"error": f"not JSON: {error}"})
                return
            try:
                with lock:
                    rewards = score_request(reward, body)
            except (ValueError, KeyError, TypeError) as error:
                self._answer(400, {"error": str(error)})
                return
            except Exception as error:  # the reward's failure, named by the guard; the client reports it
                self._answer(500, {"error": f"{type(error).__name__}: {error}"})
                return
            rewards = [None if v is None or not math.isfinite(v) else v for v in rewards]
            self._answer(200, {"rewards": rewards, "scores": rewards, "extra_logs": {}})

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            logger.debug("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)
