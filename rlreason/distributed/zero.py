"""DeepSpeed ZeRO for the training stages: the DeepSpeed config of a strategy and what a TRL config needs to use
it, the model preparation ZeRO-3 needs for an MoE, and whole weights where ZeRO-3 would shard them."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from rlreason.distributed.comm import in_worker
from rlreason.distributed.config import Strategy


def deepspeed_config(strategy: Strategy) -> dict:
    """The DeepSpeed config of ``strategy``; "auto" values are filled by the Hugging Face trainer from its own
    arguments (batch size, gradient accumulation and clipping, precision)."""
    zero: dict = {"stage": 2 if strategy is Strategy.zero2 else 3}
    if zero["stage"] == 3:
        zero.update(
            {
                # One gathered HF folder per save, which vLLM and from_pretrained load (not only ZeRO shards).
                "stage3_gather_16bit_weights_on_model_save": True,
                # Prefetching later layers while one computes breaks when TRL's generation forwards run outside
                # the training step (ds3_gather_for_generation=False): fetch on demand instead.
                "stage3_prefetch_bucket_size": 0,
            }
        )
    if strategy is Strategy.zero3_offload:
        zero.update(
            {
                "offload_optimizer": {"device": "cpu", "pin_memory": True},
                "offload_param": {"device": "cpu", "pin_memory": True},
            }
        )
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_allow_untested_optimizer": True,
    }


def config_dir(stage_dir: Path) -> Path:
    return stage_dir / "distributed"


def write_deepspeed_config(strategy: Strategy, stage_dir: Path) -> Path:
    path = config_dir(stage_dir) / "deepspeed.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deepspeed_config(strategy), indent=2) + "\n")
    return path


def trainer_args(stage_dir: Path) -> dict:
    """What a TRL config needs to train under the stage's DeepSpeed config; nothing in a single process."""
    if not in_worker():
        return {}
    return {
        "deepspeed": str(config_dir(stage_dir) / "deepspeed.json"),
        "accelerator_config": {"use_configured_state": True},
    }


def zero3_sharded(parameters) -> bool:
    """Whether these parameters are DeepSpeed ZeRO-3 shards (each process holds a slice; gather before reading)."""
    return any(hasattr(p, "ds_id") for p in parameters)


def gathered(parameters: list):
    """A context in which ``parameters`` are whole on every process (read-only): DeepSpeed's gather for ZeRO-3
    shards, nothing otherwise."""
    if not zero3_sharded(parameters):
        return contextlib.nullcontext()
    from deepspeed.runtime.zero.partition_parameters import GatheredParameters

    return GatheredParameters(parameters, modifier_rank=None)


@contextlib.contextmanager
def whole_weights():
    """``from_pretrained`` inside builds a whole model even while a ZeRO-3 trainer exists in this process.

    A ZeRO-3 ``TrainingArguments`` makes every later ``from_pretrained`` create its parameters as shards
    (``zero.Init``), which only a DeepSpeed engine can run, and which every process must build together. A model
    that one process uses alone to score (a reward model, held-out pairs) is loaded whole instead."""
    from transformers.integrations import deepspeed as hf_deepspeed

    active = (
        hf_deepspeed._hf_deepspeed_config_weak_ref
    )  # transformers keeps the trainer's config only by weak reference
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if active is not None and active() is not None:
            hf_deepspeed.set_hf_deepspeed_config(active())


def moe_block_classes(model) -> list[type]:
    """The sparse-MoE block class of each family in ``model``: the modules that hold a router."""
    from rlreason.models.routing import routers

    found = {id(r) for r in routers(model)}
    return list({type(m): None for m in model.modules() if any(id(c) in found for c in m.children())})


def prepare_model(model, strategy) -> None:
    """Under ZeRO-3, make each sparse-MoE block one unit that DeepSpeed gathers whole (``set_z3_leaf_modules``):
    otherwise ranks whose tokens pick different experts fetch different parameters and wait on each other."""
    if not in_worker() or Strategy(strategy) not in (Strategy.zero3, Strategy.zero3_offload):
        return
    classes = moe_block_classes(model)
    if classes:
        from deepspeed.utils import set_z3_leaf_modules

        set_z3_leaf_modules(model, classes)
