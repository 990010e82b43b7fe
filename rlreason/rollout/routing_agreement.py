"""Train–inference routing agreement of an MoE policy: do vLLM's engine and the trainer send each token to the
same experts?

GRPO's loss scores the sampled tokens with the trainer's forward, but the tokens were sampled by vLLM's. In an
MoE the two forwards can choose different top-k experts for a token (other kernels, another dtype, a stale
weight sync), and a token routed differently was sampled from a different function than the one being
trained: the off-policy gap that routing replay (R3) closes. The log-probability mismatch (``sampling/*``)
shows such a gap only summed over the whole model; this shows it where it starts, per layer.

After each generation, on every training process, :class:`RoutingAgreement` takes the first
``rollout.routing_agreement_samples`` sampled sequences (prompt + completion) of that process and runs each
through both forwards with the weights it was sampled with:

- vLLM's: a one-token prefill of the sequence, with vLLM's routers reporting their choices through their
  routed-experts capture callback (``bind_routed_experts_capturer``, the hook of vLLM's own
  ``enable_return_routed_experts``, whose buffer needs Model Runner V2 and so a GPU; the callback itself runs
  anywhere); with prefix caching off, that forward reads every token of the sequence;
- the trainer's: a no-grad forward of the policy, its routers' ``selected_experts`` read by forward hooks.

A token agrees at a layer when both chose the same set of experts there. Logged per log interval (summed over
processes): ``moe/routing_agreement`` (share of (token, layer) pairs that agree), ``moe/routing_agreement_all_layers``
(share of tokens that agree at every layer) and ``moe/layer<i>/routing_agreement``; the stage's totals go to
``summary.json`` (``moe.routing_agreement``).

What it needs: the engine in the training process with eager forwards (vLLM colocated on CPU; a CUDA-graph
engine would skip the callbacks), and routers that vLLM's capture supports. Elsewhere the stage says why it is
not measured. Greedy one-token requests draw no random numbers, so measuring does not change what is sampled.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from rlreason.models.routing import routers


class EngineRoutes:
    """The experts vLLM's engine routes each token of a sequence to, per MoE layer: ``(layers, tokens, top_k)``."""

    def __init__(self, llm, vllm_model: torch.nn.Module):
        from vllm.model_executor.layers.fused_moe.routed_experts_capturer import bind_routed_experts_capturer

        self.llm = llm
        self._recording = False
        self._captured: dict[int, list[torch.Tensor]] = defaultdict(list)
        bind_routed_experts_capturer(vllm_model, self)  # raises ValueError for routers vLLM cannot capture

    def capture(self, layer_id: int, topk_ids: torch.Tensor) -> None:
        """vLLM's callback: the logical expert ids a router chose for the tokens of one forward."""
        if self._recording:
            self._captured[layer_id].append(topk_ids.detach().to("cpu", copy=True))

    def __call__(self, sequence: list[int]) -> torch.Tensor:
        from vllm import SamplingParams

        self._captured.clear()
        self._recording = True
        try:
            self.llm.generate(
                [{"prompt_token_ids": sequence}],
                SamplingParams(max_tokens=1, temperature=0.0, detokenize=False),
                use_tqdm=False,
            )
        finally:
            self._recording = False
        layers = [torch.cat(self._captured[layer]) for layer in sorted(self._captured)]
        if not layers or any(len(ids) != len(sequence) for ids in layers):
            raise RuntimeError(
                f"vLLM routed {[len(ids) for ids in layers]} tokens per layer for a sequence of {len(sequence)} "
                "(routing is compared only with prefix caching off and an eager engine)"
            )
        return torch.stack(layers)


class PolicyRoutes:
    """The experts the policy's own forward routes each token of a sequence to: ``(layers, tokens, top_k)``."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.routers = routers(model)
        self._selected: dict[int, torch.Tensor] = {}

    def __call__(self, sequence: list[int]) -> torch.Tensor:
        self._selected.clear()
        hooks = [router.register_forward_hook(self._hook(i)) for i, router in enumerate(self.routers)]
        try:
            device = next(self.model.parameters()).device
            with torch.no_grad():  # no grad: the expert-load statistics of training forwards leave it out
                self.model(input_ids=torch.tensor([sequence], device=device))
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack([self._selected[i] for i in range(len(self.routers))])

    def _hook(self, layer: int):
        def record(module, inputs, outputs):
            self._selected[layer] = outputs[2].detach().to("cpu")

        return record


def agreeing(engine: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
    """Per (layer, token): whether both chose the same set of experts (the order of the top-k is not routing)."""
    if engine.shape != policy.shape:
        raise RuntimeError(
            f"vLLM routed {tuple(engine.shape)} (layers, tokens, top-k), the policy {tuple(policy.shape)}"
        )
    return (engine.sort(-1).values == policy.to(engine.dtype).sort(-1).values).all(-1)


class RoutingAgreement:
    """Routing agreement between the engine and the policy on a few sampled sequences per generation, kept for
    the current log interval and for the stage."""

    def __init__(self, engine: EngineRoutes, policy: PolicyRoutes, samples: int):
        self.engine, self.policy, self.samples = engine, policy, samples
        layers = len(policy.routers)
        self.interval, self.stage = (
            torch.zeros(layers + 2, dtype=torch.float64),
            torch.zeros(layers + 2, dtype=torch.float64),
        )

    def measure(self, prompt_ids: list[list[int]], completion_ids: list[list[int]]) -> None:
        """Compare both forwards' routing on the first ``samples`` sequences of this process's generation."""
        counts = torch.zeros_like(self.interval)  # per layer: agreeing tokens; then tokens agreeing everywhere, tokens
        for prompt, completion in list(zip(prompt_ids, completion_ids))[: self.samples]:
            sequence = list(prompt) + list(completion)
            agree = agreeing(self.engine(sequence), self.policy(sequence))
            counts[:-2] += agree.sum(-1)
            counts[-2] += agree.all(0).sum()
            counts[-1] += agree.shape[1]
        self.interval += counts
        self.stage += counts

    @staticmethod
    def _figures(counts: torch.Tensor) -> dict | None:
        from rlreason.distributed.comm import summed_over_processes

        counts = summed_over_processes(counts)  # a collective: every process calls it at the same point
        tokens = counts[-1].item()
        if not tokens:
            return None
        per_layer = (counts[:-2] / tokens).tolist()
        return {
            "mean": sum(per_layer) / len(per_layer),
            "all_layers": counts[-2].item() / tokens,
            "per_layer": per_layer,
            "tokens": int(tokens),
        }

    def flush(self) -> dict[str, float]:
        """The interval's ``moe/routing_agreement*`` figures, over every training process, and a fresh interval."""
        figures, self.interval = self._figures(self.interval), torch.zeros_like(self.interval)
        if figures is None:
            return {}
        metrics = {"moe/routing_agreement": figures["mean"], "moe/routing_agreement_all_layers": figures["all_layers"]}
        metrics.update({f"moe/layer{i}/routing_agreement": value for i, value in enumerate(figures["per_layer"])})
        return metrics

    def totals(self) -> dict | None:
        """The stage's figures (``summary.json``): mean over layers, all layers at once, per layer, tokens compared."""
        return self._figures(self.stage)
