"""A reward as TRL calls it, checked on every call: the signature once, then each batch's values, time and
failures.

A user's reward can fail in ways that otherwise surface deep inside the trainer, hours into a run, or not at
all: a wrong signature, one value too few, a NaN that poisons the advantages, a hung HTTP call. The guard turns
each into an error that names the reward and the sample (``reward.on_error=raise``) or, with
``reward.on_error=none``, into a ``None`` score for the samples concerned, which TRL leaves out of that reward's
mean. Each call reports ``rewards/<name>/failed`` (the share of samples that failed) through TRL's
``log_metric``, so W&B shows it beside TRL's own ``rewards/<name>/mean`` and ``std``.

Async rewards (an LLM judge, a remote reward) stay async: TRL runs them concurrently with one another.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

from rlreason.errors import UserError

logger = logging.getLogger(__name__)


class RewardError(RuntimeError):
    """A reward function failed; the message names the reward and, where known, the sample."""


class RewardSpecError(RewardError, UserError):
    """``reward.functions`` names something that cannot be used as a reward (found before training starts)."""


class PartialRewardError(RewardError):
    """Some samples of a batch could not be scored; ``values`` holds the others' scores (None where it failed)."""

    def __init__(self, message: str, values: list[float | None]):
        super().__init__(message)
        self.values = values


def check_signature(name: str, fn: Callable) -> None:
    """``fn`` takes TRL's call, ``fn(prompts=..., completions=..., completion_ids=..., **columns)``; a
    ``RewardSpecError`` if not."""
    try:
        signature = inspect.signature(fn, follow_wrapped=False)  # functions, partials, callable instances
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    parameters = signature.parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        raise RewardSpecError(
            f"reward {name!r}: its signature {signature} has no **kwargs; TRL calls a reward as "
            "fn(prompts, completions, **kwargs) with every dataset column as a keyword"
        )
    try:
        signature.bind(prompts=[], completions=[], completion_ids=[])
    except TypeError as error:
        raise RewardSpecError(
            f"reward {name!r}: its signature {signature} "
            f"cannot take fn(prompts=..., completions=..., completion_ids=..., **kwargs) ({error})"
        ) from error


class GuardedReward:
    """``fn`` with TRL's signature, checked on every call. Counts the samples that failed (``failures``)."""

    def __init__(self, name: str, fn: Callable, on_error: str = "raise", timeout_s: float | None = None):
        check_signature(name, fn)
        self.__name__ = name  # what TRL names the reward in its logs
        self.fn, self.on_error, self.timeout_s = fn, on_error, timeout_s
        self.calls = self.samples = self.failures = 0

    def __call__(self, prompts, completions, **kwargs) -> list[float | None]:
        try:
            values = self._call_sync(prompts, completions, kwargs)
        except Exception as error:  # a user's reward may raise anything; say which one did
            return self._failed(error, len(completions), kwargs)
        return self._checked(values, len(completions), kwargs)

    def _call_sync(self, prompts, completions, kwargs):
        if not self.timeout_s:
            return self.fn(prompts=prompts, completions=completions, **kwargs)
        # The call runs in a worker thread so a hung reward is abandoned after its budget (the thread cannot be
        # killed; its late result is dropped).
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            return pool.submit(self.fn, prompts=prompts, completions=completions, **kwargs).result(
                timeout=self.timeout_s
            )
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"took longer than its time budget of {self.timeout_s:g} s (timeout_s)") from None
        finally:
            pool.shutdown(wait=False)

    def _failed(self, error: Exception, count: int, kwargs: dict) -> list[float | None]:
        if isinstance(error, RewardError) and str(error).startswith(f"reward {self.__name__!r}"):
            message = str(error)
        else:
            message = f"reward {self.__name__!r} raised {type(error).__name__}: {error}"
        values = (
            error.values if isinstance(error, PartialRewardError) and len(error.values) == count else [None] * count
        )
        if self.on_error == "raise":
            raise RewardError(message) from error
        logger.warning("%s; scoring the samples concerned None (reward.on_error=none)", message)
        return self._record(values, count, kwargs, failed=sum(v is None for v in values))

    def _checked(self, values, count: int, kwargs: dict) -> list[float | None]:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) != count:
            got = (
                f"{len(values)} values"
                if hasattr(values, "__len__") and not isinstance(values, (str, bytes))
                else repr(values)
            )
            return self._failed(
                RewardError(f"reward {self.__name__!r} returned {got} for {count} completions"), count, kwargs
            )
        checked, failed = [], 0
        for index, value in enumerate(values):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            ):
                message = (
                    f"reward {self.__name__!r} returned {value!r} for sample {index}; expected a finite float or None"
                )
                if self.on_error == "raise":
                    raise RewardError(message)
                logger.warning("%s; scoring it None", message)
                value, failed = None, failed + 1
            checked.append(None if value is None else float(value))
        return self._record(checked, count, kwargs, failed)

    def _record(self, values: list, count: int, kwargs: dict, failed: int) -> list[float | None]:
        self.calls, self.samples, self.failures = self.calls + 1, self.samples + count, self.failures + failed
        log_metric = kwargs.get("log_metric")  # TRL's: averaged over each logging step, beside rewards/<name>/mean
        if log_metric is not None and count:
            log_metric(f"rewards/{self.__name__}/failed", failed / count)
        return values

    def stats(self) -> dict[str, Any]:
        """Calls, samples scored and samples that failed since the reward was built (for ``summary.json``)."""
        return {"calls": self.calls, "samples": self.samples, "failures": self.failures}


class AsyncGuardedReward(GuardedReward):
    """The guard of an async reward; TRL awaits it on its event loop, concurrently with the other async ones."""

    async def __call__(self, prompts, completions, **kwargs) -> list[float | None]:
        try:
            coroutine = self.fn(prompts=prompts, completions=completions, **kwargs)
            values = await (asyncio.wait_for(coroutine, self.timeout_s) if self.timeout_s else coroutine)
        except TimeoutError:
            error = TimeoutError(f"took longer than its time budget of {self.timeout_s:g} s (timeout_s)")
            return self._failed(error, len(completions), kwargs)
        except Exception as error:  # noqa: BLE001 - reported with the reward's name
            return self._failed(error, len(completions), kwargs)
        return self._checked(values, len(completions), kwargs)


def guard(name: str, fn: Callable, on_error: str = "raise", timeout_s: float | None = None) -> GuardedReward:
    """The checked form of ``fn``: async when ``fn`` is."""
    from trl.trainer.utils import is_async_callable

    kind = AsyncGuardedReward if is_async_callable(fn) else GuardedReward  # TRL's own test, which its trainer uses
    return kind(name, fn, on_error, timeout_s)


def call(fn: Callable, /, **kwargs) -> list[float | None]:
    """Call a reward (or what calls one) from synchronous code (the pre-flight, ``rlreason rewards check``, the
    reward server), awaiting it if async."""
    result = fn(**kwargs)
    return asyncio.run(result) if inspect.isawaitable(result) else result
