"""Reward registry: turn ``reward.functions`` specs into TRL reward callables.

A spec's ``fn`` may be

* a built-in name (``accuracy``, ``format``, ``tool_calling``, ``safety``: the tasks' rewards, see
  ``rlreason.reward``), ``think_format``, ``llm_judge`` (:mod:`rlreason.rewards.judge`), ``soft_overlong``
  (DAPO's length penalty, built from ``kwargs`` by TRL's ``get_soft_overlong_punishment``), or any
  ``trl.rewards`` function name;
* ``rm:PATH``: a sequence-classification reward model (a folder ``save_pretrained`` wrote, such as the
  ``reward_model`` stage's), :mod:`rlreason.rewards.model`;
* ``remote:URL``: a reward served over HTTP (``rlreason serve-reward``, or any server speaking OpenRLHF's
  ``/get_reward``), :mod:`rlreason.rewards.remote`;
* ``package.module:function`` or a dotted ``package.module.function`` (what Hydra's ``_target_`` names);
* ``path/to/file.py:function``, a plugin file anywhere on disk.

A class instead of a function is constructed with the spec's ``kwargs``; a function gets them bound.
Every reward keeps TRL's signature ``fn(prompts, completions, **kwargs) -> list[float | None]`` and is
guarded (:mod:`rlreason.rewards.guard`): a failure names the reward and the sample instead of surfacing deep
inside the trainer. ``rlreason rewards list`` prints what is available, ``rlreason rewards check SPEC`` tries
one on the configured data.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from rlreason.plugins import import_target, is_location
from rlreason.reward import BUILTINS as TASK_REWARDS
from rlreason.rewards.guard import GuardedReward, RewardSpecError, guard

logger = logging.getLogger(__name__)

BUILTINS = {
    **TASK_REWARDS,
    "think_format": "trl.rewards:think_format_reward",
    "llm_judge": "rlreason.rewards.judge:LLMJudge",
    # DAPO's soft overlong punishment: kwargs max_completion_len (grpo.max_completion_length) and
    # soft_punish_cache (the tokens before it where the penalty ramps from 0 to -1)
    "soft_overlong": "trl.rewards:get_soft_overlong_punishment",
}
# Built-ins that a function builds from the spec's kwargs (a factory) instead of taking them on every call.
FACTORIES = {"soft_overlong"}
# ``<prefix>:<argument>`` specs: the class and the keyword its argument fills.
PREFIXES = {
    "rm": ("rlreason.rewards.model:RewardModel", "path"),
    "remote": ("rlreason.rewards.remote:RemoteReward", "url"),
}
# Names a release used before the skill had one name everywhere; they still work, with a warning.
RENAMED = {"tool_call": "tool_calling"}


@dataclass
class RewardSpec:
    """One reward: ``fn`` is a built-in name, ``rm:PATH``, ``remote:URL``, ``module:function``,
    ``path/file.py:function`` or a dotted path."""

    fn: Optional[str] = None
    _target_: Optional[str] = None
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)
    # seconds one call may take; past it the call counts as failed (reward.on_error decides what follows)
    timeout_s: Optional[float] = None
    # the name in logs and summary.json (default: the function's, or the spec's prefix: rm, remote)
    name: Optional[str] = None


def _default_rewards() -> list[RewardSpec]:
    return [RewardSpec(fn="accuracy", weight=1.0), RewardSpec(fn="format", weight=0.1)]


@dataclass
class RewardConfig:
    """``conf/reward/``: the weighted reward functions GRPO optimises (default: reasoning accuracy, and the
    format at a tenth of its weight)."""

    functions: list[RewardSpec] = field(default_factory=_default_rewards)
    # "raise": a reward that raises, times out or returns a wrong value stops the run, naming reward and sample;
    # "none": the failure is logged and those samples' reward is None (TRL then leaves them out of it).
    on_error: str = "raise"

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "none"):
            raise ValueError(f"reward.on_error: got {self.on_error!r}; allowed: 'raise', 'none'")


@dataclass
class Reward:
    name: str
    fn: GuardedReward
    weight: float


def prefixed(spec: str) -> tuple[str, str] | None:
    """``(prefix, argument)`` of an ``rm:PATH`` or ``remote:URL`` spec, else None."""
    prefix, sep, argument = spec.partition(":")
    return (prefix, argument) if sep and prefix in PREFIXES else None


def resolve(spec: str):
    """The object a reward spec names (see the module docstring for the accepted forms)."""
    if spec in RENAMED:
        logger.warning("reward %r is now called %r; the old name will go away", spec, RENAMED[spec])
        spec = RENAMED[spec]
    target = BUILTINS.get(spec, spec)
    if callable(target):
        return target
    if prefixed(target):
        target = PREFIXES[prefixed(target)[0]][0]
    if not is_location(target):
        trl_rewards = importlib.import_module("trl.rewards")
        if hasattr(trl_rewards, target):
            return getattr(trl_rewards, target)
        raise RewardSpecError(
            f"reward {spec!r}: unknown built-in; allowed: {sorted(BUILTINS)}, a trl.rewards function, "
            "'rm:PATH', 'remote:URL', 'module:function' or 'path/file.py:function' (rlreason rewards list)"
        )
    return import_target(target, f"reward {spec!r}", RewardSpecError)


def reward_name(target: str) -> str:
    """The name a spec's reward is logged under: a built-in's, an ``rm``/``remote`` prefix, or the function's."""
    target = RENAMED.get(target, target)
    if target in BUILTINS:
        return target
    if prefixed(target):
        return prefixed(target)[0]
    return target.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def instantiate(target: str, kwargs: dict | None = None):
    """The reward callable a spec names, its ``kwargs`` applied (a class is constructed with them)."""
    obj = resolve(target)
    kwargs = dict(kwargs or {})
    if prefixed(target):
        prefix, argument = prefixed(target)
        kwargs[PREFIXES[prefix][1]] = argument
    if inspect.isclass(obj) or RENAMED.get(target, target) in FACTORIES:
        try:
            return obj(**kwargs)
        except TypeError as error:
            raise RewardSpecError(
                f"reward {target!r}: cannot be built with kwargs {sorted(kwargs)}: {error}"
            ) from error
    return functools.partial(obj, **kwargs) if kwargs else obj


def build_reward(spec: RewardSpec, on_error: str = "raise", where: str = "reward") -> Reward:
    """One guarded reward of a spec; ``where`` names the spec in errors."""
    target = spec.fn or spec._target_
    if not target:
        raise RewardSpecError(f"{where}: set 'fn' (or '_target_') to the reward to use")
    name = spec.name or reward_name(target)
    return Reward(
        name=name, fn=guard(name, instantiate(target, spec.kwargs), on_error, spec.timeout_s), weight=spec.weight
    )


def reward_model_path(spec: RewardSpec) -> str | None:
    """The folder of an ``rm:PATH`` spec, else None."""
    target = prefixed(spec.fn or spec._target_ or "")
    return target[1] if target and target[0] == "rm" else None


def check_specs(functions: list[RewardSpec]) -> None:
    """``reward.functions`` names at least one reward, each under its own name (checked without building them)."""
    if not functions:
        raise RewardSpecError("reward.functions is empty: GRPO needs at least one reward")
    names = [spec.name or reward_name(spec.fn or spec._target_ or "") for spec in functions]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RewardSpecError(
            f"reward.functions: names {sorted(duplicates)} appear twice; "
            f"each reward must be distinct (give one a 'name')"
        )


def build_rewards(cfg) -> list[Reward]:
    """The weighted, guarded rewards of ``cfg.reward`` (a ``RewardConfig``)."""
    check_specs(cfg.functions)
    return [build_reward(spec, cfg.on_error, f"reward.functions[{i}]") for i, spec in enumerate(cfg.functions)]
