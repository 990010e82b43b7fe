"""Rewards: the registry that turns ``reward.functions`` into TRL reward callables, the guard every reward
runs in, and the model-based rewards (a trained reward model, a remote reward server, an LLM judge).

- :mod:`~rlreason.rewards.registry`: spec forms, ``RewardConfig``, :func:`build_rewards`;
- :mod:`~rlreason.rewards.guard`: signature, value, time-budget and failure checks on every call;
- :mod:`~rlreason.rewards.model`: ``rm:PATH``, a sequence-classification reward model;
- :mod:`~rlreason.rewards.remote`: ``remote:URL`` and ``rlreason serve-reward`` (OpenRLHF's ``/get_reward``);
- :mod:`~rlreason.rewards.judge`: ``llm_judge``, a chat model behind an OpenAI-compatible endpoint;
- :mod:`~rlreason.rewards.cli`: ``rlreason rewards list|check``.

The built-in rule rewards live with their tasks and are importable as ``rlreason.reward``.
"""

from rlreason.rewards.guard import PartialRewardError, RewardError, RewardSpecError
from rlreason.rewards.registry import BUILTINS, Reward, RewardConfig, RewardSpec, build_reward, build_rewards, resolve

__all__ = [
    "BUILTINS",
    "PartialRewardError",
    "Reward",
    "RewardConfig",
    "RewardError",
    "RewardSpec",
    "RewardSpecError",
    "build_reward",
    "build_rewards",
    "resolve",
]
