"""How routing agreement counts: a token agrees at a layer when both forwards chose the same set of experts.

The real comparison (vLLM's engine against the policy, synced and stale) is in tests/rollout/test_parity.py."""

import pytest
import torch

from rlreason.rollout.config import RolloutConfig
from rlreason.rollout.routing_agreement import agreeing


def test_the_order_of_the_top_k_is_not_routing_but_the_set_is():
    engine = torch.tensor([[[0, 3], [1, 2], [4, 5]]], dtype=torch.int16)  # (layers, tokens, top-k)
    policy = torch.tensor([[[3, 0], [1, 2], [4, 6]]])
    assert agreeing(engine, policy).tolist() == [[True, True, False]]


def test_routes_of_different_shapes_are_an_error_naming_both():
    with pytest.raises(RuntimeError, match=r"vLLM routed \(2, 3, 2\).*the policy \(2, 4, 2\)"):
        agreeing(torch.zeros(2, 3, 2, dtype=torch.long), torch.zeros(2, 4, 2, dtype=torch.long))


def test_a_negative_sample_count_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="rollout.routing_agreement_samples: got -1; must be >= 0"):
        RolloutConfig(routing_agreement_samples=-1)
