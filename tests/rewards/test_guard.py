"""The guard every reward runs in: TRL's signature, one finite number (or None) per completion, a time budget,
failures counted and logged, async rewards kept async."""

import asyncio
import functools
import math
import time

import pytest
from trl.trainer.utils import is_async_callable

from rlreason.rewards.guard import (
    AsyncGuardedReward,
    PartialRewardError,
    RewardError,
    RewardSpecError,
    call,
    guard,
)

PROMPTS, COMPLETIONS = ["q1", "q2"], ["a", "bb"]


def constant(prompts, completions, value=1.0, **kwargs):
    return [value] * len(completions)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda prompts, completions: [1.0], "has no \\*\\*kwargs"),
        (
            lambda completions, extra, **kwargs: [1.0],
            "cannot take fn\\(prompts=..., completions=..., completion_ids=..., \\*\\*kwargs\\)",
        ),
    ],
)
def test_a_signature_trl_cannot_call_is_refused_when_the_reward_is_built(fn, message):
    with pytest.raises(RewardSpecError, match=f"reward 'mine': its signature .*{message}"):
        guard("mine", fn)


def test_partials_and_callable_instances_are_checked_through():
    class Scorer:
        def __call__(self, prompts, completions, **kwargs):
            return [0.5] * len(completions)

    assert guard("p", functools.partial(constant, value=0.25))(prompts=PROMPTS, completions=COMPLETIONS) == [0.25, 0.25]
    assert guard("s", Scorer())(prompts=PROMPTS, completions=COMPLETIONS) == [0.5, 0.5]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.5", True, [1.0]])
def test_anything_but_a_finite_number_or_none_is_refused_naming_reward_and_sample(value):
    reward = guard("mine", functools.partial(constant, value=value))
    with pytest.raises(RewardError, match=r"reward 'mine' returned .* for sample 0; expected a finite float or None"):
        reward(prompts=PROMPTS, completions=COMPLETIONS)


@pytest.mark.parametrize("values, got", [(None, "None"), ([1.0], "1 values"), (0.5, "0.5"), ("ab", "'ab'")])
def test_a_result_that_is_not_one_value_per_completion_is_refused(values, got):
    reward = guard("mine", lambda prompts, completions, **kwargs: values)
    with pytest.raises(RewardError, match=f"reward 'mine' returned {got} for 2 completions"):
        reward(prompts=PROMPTS, completions=COMPLETIONS)


def test_with_on_error_none_failures_score_none_and_are_counted_and_logged():
    logged = []
    reward = guard("mine", functools.partial(constant, value=math.nan), on_error="none")
    assert reward(prompts=PROMPTS, completions=COMPLETIONS, log_metric=lambda k, v: logged.append((k, v))) == [
        None,
        None,
    ]
    assert guard("ok", constant, on_error="none")(prompts=PROMPTS, completions=COMPLETIONS) == [1.0, 1.0]
    assert reward.stats() == {"calls": 1, "samples": 2, "failures": 2}
    assert logged == [("rewards/mine/failed", 1.0)]


def test_a_reward_past_its_time_budget_fails_or_scores_none():
    def slow(prompts, completions, **kwargs):
        time.sleep(5)
        return [1.0] * len(completions)

    start = time.perf_counter()
    with pytest.raises(
        RewardError, match="reward 'slow' raised TimeoutError: took longer than its time budget of 0.2 s"
    ):
        guard("slow", slow, timeout_s=0.2)(prompts=PROMPTS, completions=COMPLETIONS)
    assert guard("slow", slow, on_error="none", timeout_s=0.2)(prompts=PROMPTS, completions=COMPLETIONS) == [None, None]
    assert time.perf_counter() - start < 4  # abandoned at the budget, not waited for


def test_an_async_reward_stays_async_and_is_guarded_the_same_way():
    async def judged(prompts, completions, **kwargs):
        await asyncio.sleep(0.01)
        return [0.5] * len(completions)

    async def hung(prompts, completions, **kwargs):
        await asyncio.sleep(5)

    reward = guard("judged", judged)
    assert isinstance(reward, AsyncGuardedReward) and is_async_callable(reward)  # TRL runs it on its event loop
    assert call(reward, prompts=PROMPTS, completions=COMPLETIONS) == [0.5, 0.5]
    with pytest.raises(RewardError, match="time budget of 0.1 s"):
        call(guard("hung", hung, timeout_s=0.1), prompts=PROMPTS, completions=COMPLETIONS)


def test_a_partial_failure_keeps_the_scores_that_came_back():
    def half(prompts, completions, **kwargs):
        raise PartialRewardError("reward 'half': 1 of 2 samples failed", [0.75, None])

    assert guard("half", half, on_error="none")(prompts=PROMPTS, completions=COMPLETIONS) == [0.75, None]
    with pytest.raises(RewardError, match="^reward 'half': 1 of 2 samples failed$"):
        guard("half", half)(prompts=PROMPTS, completions=COMPLETIONS)
