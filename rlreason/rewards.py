"""Reward registry: turn ``reward.functions`` specs into TRL reward callables.

A spec's ``fn`` may be

* a built-in name (``accuracy``, ``format``, ``tool_calling``, ``safety``: the tasks' rewards, see
  ``rlreason.reward``), ``think_format``, or any ``trl.rewards`` function name;
* ``package.module:function`` or a dotted ``package.module.function`` (what Hydra's ``_target_`` names);
* ``path/to/file.py:function``, a plugin file anywhere on disk.

A class instead of a function is constructed with the spec's ``kwargs``; a function gets them bound.
Every reward keeps TRL's signature ``fn(prompts, completions, **kwargs) -> list[float | None]`` and is wrapped
so a failure names the reward and the sample instead of surfacing deep inside the trainer.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rlreason.errors import UserError
from rlreason.reward import BUILTINS as TASK_REWARDS

logger = logging.getLogger(__name__)

BUILTINS = {**TASK_REWARDS, "think_format": "trl.rewards:think_format_reward"}
# Names a release used before the skill had one name everywhere; they still work, with a warning.
RENAMED = {"tool_call": "tool_calling"}


@dataclass
class RewardSpec:
    """One reward: ``fn`` is a built-in name, ``module:function``, ``path/file.py:function`` or a dotted path."""

    fn: Optional[str] = None
    _target_: Optional[str] = None
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)


def _default_rewards() -> list[RewardSpec]:
    return [RewardSpec(fn="accuracy", weight=1.0), RewardSpec(fn="format", weight=0.1)]


@dataclass
class RewardConfig:
    """``conf/reward/``: the weighted reward functions GRPO optimises (default: reasoning accuracy, and the
    format at a tenth of its weight)."""

    functions: list[RewardSpec] = field(default_factory=_default_rewards)
    # "raise": a reward that raises or returns the wrong length stops the run, naming reward and sample;
    # "none": the failure is logged and that sample's reward is None (TRL then ignores it).
    on_error: str = "raise"

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "none"):
            raise ValueError(f"reward.on_error: got {self.on_error!r}; allowed: 'raise', 'none'")


class RewardError(RuntimeError):
    """A reward function failed; the message names the reward and, where known, the sample."""


class RewardSpecError(RewardError, UserError):
    """``reward.functions`` names something that cannot be used as a reward (found before training starts)."""


@dataclass
class Reward:
    name: str
    fn: Callable
    weight: float


def _load_file(path: Path, attr: str, spec: str):
    if not path.is_file():
        raise RewardSpecError(f"reward {spec!r}: file {path} does not exist")
    module_name = f"rlreason_reward_plugin_{path.stem}_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as error:
        raise RewardSpecError(f"reward {spec!r}: {error.filename}:{error.lineno}: {error.msg}") from error
    except Exception as error:  # the plugin's own code failed at import; say where
        raise RewardSpecError(f"reward {spec!r}: importing {path} raised {type(error).__name__}: {error}") from error
    if not hasattr(module, attr):
        raise RewardSpecError(f"reward {spec!r}: {path} defines no {attr!r}")
    return getattr(module, attr)


def resolve(spec: str):
    """The object a reward spec names (see the module docstring for the accepted forms)."""
    if spec in RENAMED:
        logger.warning("reward %r is now called %r; the old name will go away", spec, RENAMED[spec])
        spec = RENAMED[spec]
    target = BUILTINS.get(spec, spec)
    if callable(target):
        return target
    if ":" in target:
        location, attr = target.rsplit(":", 1)
        if location.endswith(".py"):
            return _load_file(Path(location), attr, spec)
    elif "." in target:
        location, attr = target.rsplit(".", 1)
    else:
        trl_rewards = importlib.import_module("trl.rewards")
        if hasattr(trl_rewards, target):
            return getattr(trl_rewards, target)
        raise RewardSpecError(
            f"reward {spec!r}: unknown built-in; allowed: {sorted(BUILTINS)}, a trl.rewards function, "
            "'module:function' or 'path/file.py:function'"
        )
    try:
        module = importlib.import_module(location)
    except ImportError as error:
        raise RewardSpecError(f"reward {spec!r}: cannot import module {location!r}: {error}") from error
    if not hasattr(module, attr):
        raise RewardSpecError(f"reward {spec!r}: module {location!r} has no attribute {attr!r}")
    return getattr(module, attr)


def _guarded(name: str, fn: Callable, on_error: str) -> Callable:
    """``fn`` with TRL's signature, whose failures name the reward and the sample index."""

    def fail(message: str, count: int) -> list[float | None]:
        if on_error == "raise":
            raise RewardError(message)
        logger.warning("%s; scoring these samples None (reward.on_error=none)", message)
        return [None] * count

    @functools.wraps(fn)
    def reward(prompts, completions, **kwargs):
        try:
            values = fn(prompts=prompts, completions=completions, **kwargs)
        except RewardError:
            raise
        except Exception as error:  # a user's reward may raise anything; say which one did
            return fail(f"reward {name!r} raised {type(error).__name__}: {error}", len(completions))
        if values is None or len(values) != len(completions):
            got = "None" if values is None else f"{len(values)} values"
            return fail(f"reward {name!r} returned {got} for {len(completions)} completions", len(completions))
        checked = []
        for index, value in enumerate(values):
            if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value)):
                if on_error == "raise":
                    raise RewardError(f"reward {name!r} returned {value!r} for sample {index}; expected a float or None")
                logger.warning("reward %r returned %r for sample %d; scoring it None", name, value, index)
                value = None
            checked.append(None if value is None else float(value))
        return checked

    reward.__name__ = name
    return reward


def build_rewards(cfg) -> list[Reward]:
    """The weighted, guarded rewards of ``cfg.reward`` (a ``RewardConfig``)."""
    if not cfg.functions:
        raise RewardSpecError("reward.functions is empty: GRPO needs at least one reward")
    rewards = []
    for index, spec in enumerate(cfg.functions):
        target = spec.fn or spec._target_
        if not target:
            raise RewardSpecError(f"reward.functions[{index}]: set 'fn' (or '_target_') to the reward to use")
        obj = resolve(target)
        kwargs = dict(spec.kwargs or {})
        fn = obj(**kwargs) if inspect.isclass(obj) else functools.partial(obj, **kwargs) if kwargs else obj
        target = RENAMED.get(target, target)
        name = target.rsplit(":", 1)[-1].rsplit(".", 1)[-1] if target not in BUILTINS else target
        rewards.append(Reward(name=name, fn=_guarded(name, fn, cfg.on_error), weight=spec.weight))
    names = [r.name for r in rewards]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RewardSpecError(f"reward.functions: names {sorted(duplicates)} appear twice; each reward must be distinct")
    return rewards
