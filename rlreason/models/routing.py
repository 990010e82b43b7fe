"""An MoE policy's routers: how they route tokens while it trains (expert load, load imbalance, router
entropy), and keeping them fixed (``grpo.freeze_router``).

Fine-tuning moves the routers as well as the experts, and an MoE whose tokens collapse onto a few experts
trains (and serves) badly long before the loss shows it. :class:`ExpertLoad` watches every router of the
model through forward hooks, on training forwards only (gradients on; generation and evaluation forwards
are not counted), and on the tokens the attention mask keeps (padding is not routed work). Per layer:

- ``load``: the fraction of routed (token, expert) assignments each expert received;
- ``max_load_violation``: ``(max - mean) / mean`` of the per-expert counts, 0 when perfectly balanced,
  ``num_experts - 1`` when one expert takes everything;
- ``router_entropy``: the mean entropy (nats) of each token's softmax over experts; ``log(num_experts)`` is
  a router that cannot decide, 0 a router that always does.

The trainers of the SFT and GRPO stages (:class:`LogsExpertLoad`) add the interval's figures to every log
line (``moe/max_load_violation``, ``moe/router_entropy``, and per layer ``moe/layer<i>/...``), so they reach
W&B with the loss; :meth:`ExpertLoad.totals` summarizes the whole stage for ``summary.json``.

Routers are found by what transformers' MoE families share: a ``...TopKRouter`` module (Qwen3-MoE, Qwen2-MoE,
OLMoE, Mixtral, DeepSeek-V2 and others) returning ``(router_logits, routing_weights, selected_experts)``.
"""

from __future__ import annotations

import math

import torch


def routers(model) -> list[torch.nn.Module]:
    """The model's router modules, in layer order."""
    return [module for module in model.modules() if type(module).__name__.lower().endswith("topkrouter")]


def num_experts(config) -> int:
    """Routed experts per layer, whichever name the family's config gives them."""
    text = config.get_text_config()
    for key in ("num_experts", "n_routed_experts", "num_local_experts"):
        if getattr(text, key, None):
            return getattr(text, key)
    raise ValueError(f"{type(config).__name__}: no expert count (num_experts / n_routed_experts / num_local_experts)")


def has_trl_load_balancing(model) -> bool:
    """Whether TRL's MoE load-balancing loss runs on ``model`` (or a model of this config): it reads
    ``config.num_experts``, which DeepSeek-V3 calls ``n_routed_experts`` (that family balances its experts
    with a routing bias instead)."""
    return getattr(getattr(model, "config", model).get_text_config(), "num_experts", None) is not None


def freeze_routers(model) -> int:
    """Stop training every router (``grpo.freeze_router``); returns how many were frozen.

    RL on an MoE moves the routers as well as the experts, and a router that drifts sends tokens to experts
    other than the ones vLLM's engine (synced a step earlier) chose; freezing them keeps the routing the
    pretrained model learned while the experts adapt."""
    found = routers(model)
    for router in found:
        router.requires_grad_(False)
    return len(found)


class _Window:
    """Counts over one span of training steps: per layer, assignments per expert, summed entropy, tokens."""

    def __init__(self, layers: int, experts: int):
        self.counts = torch.zeros(layers, experts, dtype=torch.float64)
        self.entropy = torch.zeros(layers, dtype=torch.float64)
        self.tokens = torch.zeros(layers, dtype=torch.float64)

    def add(self, layer: int, counts: torch.Tensor, entropy: float, tokens: int) -> None:
        self.counts[layer] += counts.double()
        self.entropy[layer] += entropy
        self.tokens[layer] += tokens

    def summed_over_processes(self) -> _Window:
        """This window with every training process's counts added; itself in a single process (a collective)."""
        from rlreason.distributed.comm import summed_over_processes

        layers, experts = self.counts.shape
        packed = summed_over_processes(torch.cat([self.counts.flatten(), self.entropy, self.tokens]))
        total = _Window(layers, experts)
        total.counts = packed[: layers * experts].view(layers, experts)
        total.entropy, total.tokens = packed[layers * experts : -layers], packed[-layers:]
        return total

    def per_layer(self) -> list[dict]:
        return [
            _layer_metrics(c, e.item(), t.item()) for c, e, t in zip(self.counts, self.entropy, self.tokens) if t > 0
        ]


def _layer_metrics(counts: torch.Tensor, entropy: float, tokens: float) -> dict:
    mean = counts.mean().item()
    return {
        "load": (counts / counts.sum()).tolist(),
        "max_load_violation": (counts.max().item() - mean) / mean if mean else 0.0,
        "router_entropy": entropy / tokens,
    }


class ExpertLoad:
    """Routing statistics of ``model``'s training forwards, kept for the current log interval and the stage."""

    def __init__(self, model):
        self.routers = routers(model)
        if not self.routers:
            raise ValueError(f"{type(model).__name__}: no ...TopKRouter modules to watch")
        self._shape = (len(self.routers), num_experts(model.config))
        self.interval, self.stage = _Window(*self._shape), _Window(*self._shape)
        self._mask: torch.Tensor | None = None
        self._hooks = [model.register_forward_pre_hook(self._capture_mask, with_kwargs=True)]
        self._hooks += [router.register_forward_hook(self._hook(i)) for i, router in enumerate(self.routers)]

    def _capture_mask(self, module, args, kwargs):
        mask = kwargs.get("attention_mask")
        self._mask = mask.reshape(-1).bool() if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None

    def _hook(self, layer: int):
        def record(module, inputs, outputs):
            if not torch.is_grad_enabled():  # generation and evaluation forwards are not training
                return
            with torch.no_grad():
                logits, _, selected = outputs
                if self._mask is not None and self._mask.numel() == logits.shape[0]:
                    logits, selected = logits[self._mask], selected[self._mask]
                counts = torch.bincount(selected.reshape(-1), minlength=logits.shape[-1]).cpu()
                probs = logits.float().softmax(-1)
                entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).sum().item()
            for window in (self.interval, self.stage):
                window.add(layer, counts, entropy, logits.shape[0])

        return record

    def flush(self) -> dict[str, float]:
        """The figures since the last call (``moe/...`` keys), over every training process, and a fresh interval."""
        per_layer = self.interval.summed_over_processes().per_layer()
        self.interval = _Window(*self._shape)
        if not per_layer:
            return {}
        metrics = {
            "moe/max_load_violation": max(m["max_load_violation"] for m in per_layer),
            "moe/router_entropy": sum(m["router_entropy"] for m in per_layer) / len(per_layer),
        }
        for i, m in enumerate(per_layer):
            metrics[f"moe/layer{i}/max_load_violation"] = m["max_load_violation"]
            metrics[f"moe/layer{i}/router_entropy"] = m["router_entropy"]
        return metrics

    def totals(self) -> dict:
        """The whole stage, over every training process: per-layer expert load, the worst layer's load
        violation, the mean router entropy."""
        stage = self.stage.summed_over_processes()
        per_layer = stage.per_layer()
        if not per_layer:
            return {}
        return {
            "expert_load": [m["load"] for m in per_layer],
            "max_load_violation": max(m["max_load_violation"] for m in per_layer),
            "router_entropy": sum(m["router_entropy"] for m in per_layer) / len(per_layer),
            "max_router_entropy": math.log(self._shape[1]),
            "routed_tokens": int(stage.tokens[0].item()),
        }

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []


class LogsExpertLoad:
    """Trainer mixin: every training log line carries the interval's expert-load figures (set
    ``trainer.expert_load``; None for a dense model)."""

    expert_load: ExpertLoad | None = None

    def log(self, logs: dict, *args, **kwargs) -> None:
        if self.expert_load is not None and "loss" in logs:
            logs = {**logs, **self.expert_load.flush()}
        super().log(logs, *args, **kwargs)
