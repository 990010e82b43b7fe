"""LoRA for the training stages (``model.lora``), through PEFT as TRL wires it.

With ``model.lora.enabled=true`` the SFT, reward-model and GRPO stages hand TRL a ``peft.LoraConfig``
(``peft_config=``): the base weights stay frozen and only the low-rank adapters (and, for a reward model, its
score head) train, so optimizer state and gradients shrink to the adapters' size. Each stage saves

- ``<stage>/adapter/``: the adapter, as PEFT writes it (``PeftModel.from_pretrained(base, adapter)``), and
- ``<stage>/model/``: the base with the adapter merged in, an ordinary Hugging Face folder that the next stage,
  the evals, vLLM and transformers load like any checkpoint.

Targets: ``target_modules`` (default ``all-linear``, resolved by :func:`linear_targets`: every ``nn.Linear`` but
the output head and the routers — attention, and a dense model's MLP). PEFT's own ``all-linear`` would also adapt
a transformers-5 MoE's routers and fused experts; a router is kept out so the routing vLLM and the trainer
compute stays the same (routing drift is the main source of MoE RL instability). The fused experts
(``Qwen3MoeExperts.gate_up_proj`` ...) are adapted only with ``target_experts=true`` (PEFT's
``target_parameters``): they hold most of an MoE's parameters, so an adapter there is where the capacity is,
and also where PEFT's per-forward expert delta costs time.

vLLM samples from the merged weights: :func:`merged_state_dict` computes base + B·A·scale for every adapted
weight without touching the model (PEFT's ``merge_adapter``/``unmerge_adapter``, which TRL uses, round the
base weights a little on every sync, so a resumed run, which reloads the exact base, would drift from an
uninterrupted one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"


@dataclass
class LoraSettings:
    """``model.lora``: a LoRA adapter instead of full fine-tuning, in every training stage (names follow
    ``peft.LoraConfig``)."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    # 0: the trained forward is the one vLLM runs (vLLM has no dropout); a GRPO ratio would otherwise compare
    # a dropped-out policy with the sampler.
    dropout: float = 0.0
    # ["all-linear"]: every nn.Linear but the output head and the routers; or module name suffixes: [q_proj, v_proj]
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    target_experts: bool = False  # MoE: also adapt the fused expert weights (PEFT target_parameters)

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"model.lora.r: got {self.r}; must be >= 1")
        if self.alpha <= 0:
            raise ValueError(f"model.lora.alpha: got {self.alpha}; must be > 0")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.lora.dropout: got {self.dropout}; must be in [0, 1)")
        if not self.target_modules and not self.target_experts:
            raise ValueError(
                "model.lora.target_modules: empty, and model.lora.target_experts is false: nothing to adapt"
            )


def expert_parameters(model) -> list[str]:
    """The fused expert weights of an MoE as PEFT's ``target_parameters`` (``mlp.experts.gate_up_proj`` ...): the
    3-D parameters (experts x out x in) of modules named ``experts``. A ZeRO-3 shard keeps its full shape in
    ``ds_shape`` (the tensor itself is an empty slice): without it, no expert would be adapted under ZeRO-3."""
    names = set()
    for module_name, module in model.named_modules():
        if module_name.rsplit(".", 1)[-1] != "experts":
            continue
        for name, parameter in module.named_parameters(recurse=False):
            if len(getattr(parameter, "ds_shape", parameter.shape)) == 3:
                names.add(".".join(module_name.split(".")[-2:] + [name]))
    return sorted(names)


def linear_targets(model) -> list[str]:
    """``all-linear`` as rlreason means it: the names of the model's ``nn.Linear`` modules, but the output head and
    the routers (PEFT's own ``all-linear`` also adapts an MoE's routers and fused experts in transformers 5)."""
    import torch

    from rlreason.models.routing import routers

    excluded = {id(model.get_output_embeddings())} | {id(r) for r in routers(model)}
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and id(module) not in excluded
        }
    )


def _model(model):
    """``model``, or for a transformers config its causal LM built on the meta device (names only, no memory)."""
    if hasattr(model, "named_modules"):
        return model
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(model)


def peft_config(settings: LoraSettings, model, task_type: str = "CAUSAL_LM"):
    """The ``peft.LoraConfig`` of ``settings`` for ``model`` (a model or its config: the expert targets are read
    from it); None when LoRA is off. ``task_type="SEQ_CLS"`` for a reward model, whose score head then trains whole."""
    if not settings.enabled:
        return None
    from peft import LoraConfig

    model = _model(model)
    targets = (
        linear_targets(model) if list(settings.target_modules) == ["all-linear"] else list(settings.target_modules)
    )
    experts = expert_parameters(model) if settings.target_experts else []
    if settings.target_experts and not experts:
        logger.info("model.lora.target_experts: %s has no fused experts to adapt", type(model).__name__)
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        target_parameters=experts or None,
        task_type=task_type,
    )


def is_peft_model(model) -> bool:
    from accelerate.utils import is_peft_model as accelerate_is_peft_model

    return accelerate_is_peft_model(model)


def _base_name(name: str) -> str:
    """A PEFT model's parameter name as the base model names it."""
    name = name.removeprefix("base_model.model.").replace(".base_layer", "")
    return name.replace(".modules_to_save.default", "")


def merged_state_dict(model) -> dict:
    """The base model's state dict with every active adapter merged in (W + scale·B·A), under the base model's
    names; the model itself is left as it is. Under ZeRO-3 every parameter is gathered first (a merge needs the
    whole weight), as TRL does for its own PEFT sync."""
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    from rlreason.distributed.zero import gathered

    with torch.no_grad(), gathered(list(model.parameters())):
        deltas: dict[int, torch.Tensor] = {}
        for module in model.modules():
            if not isinstance(module, BaseTunerLayer) or module.disable_adapters:
                continue
            target = module.get_param() if hasattr(module, "get_param") else module.get_base_layer().weight
            for adapter in module.active_adapters:
                if adapter in getattr(module, "lora_A", {}):
                    delta = module.get_delta_weight(adapter)
                    deltas[id(target)] = deltas.get(id(target), 0) + delta
        state = {}
        for name, tensor in model.state_dict(keep_vars=True).items():
            if ".lora_" in name or ".original_module." in name:
                continue
            value = tensor.detach()
            if id(tensor) in deltas:
                value = value + deltas[id(tensor)].to(value.dtype)
            state[_base_name(name)] = value.clone()
    return state


def save_merged(model, adapter_dir: Path, out: Path) -> None:
    """``out``: ``model`` (the base checkpoint, loaded whole) with the adapter of ``adapter_dir`` merged in, as a
    Hugging Face folder.

    Built from the saved adapter, not the trainer's model, so it is the same under every distributed strategy
    (the trainer's copy may be sharded)."""
    from peft import PeftModel

    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out)


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; of the whole model under ZeRO-3 too (``ds_numel``: a shard's full size)."""

    def size(p):
        return getattr(p, "ds_numel", p.numel())

    trainable = sum(size(p) for p in model.parameters() if p.requires_grad)
    return trainable, sum(size(p) for p in model.parameters())
