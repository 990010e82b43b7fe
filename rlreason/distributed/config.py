"""``conf/distributed/``: how many training processes, and which DeepSpeed ZeRO stage shards them.

- ``single`` (default): one process, no DeepSpeed;
- ``zero2``: optimizer states and gradients sharded across the processes, parameters replicated;
- ``zero3``: parameters sharded too (gathered layer by layer for each forward), for models that do not fit
  one device; checkpoints are gathered into ordinary Hugging Face folders when saved;
- ``zero3_offload``: ZeRO-3 with optimizer states and parameters held in CPU memory (GPU runs).

On CPU the processes talk over gloo and ``distributed.num_processes`` must be given (there is no device to
count); on GPU it defaults to one per visible device, over NCCL.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

from rlreason.errors import UserError


class Strategy(str, Enum):
    single = "single"
    zero2 = "zero2"
    zero3 = "zero3"
    zero3_offload = "zero3_offload"


@dataclass
class DistributedConfig:
    """``conf/distributed/``: the strategy, and the processes it runs on."""

    strategy: Strategy = Strategy.single
    # All training processes, over every training node; None: one per GPU; on CPU set it (e.g. 2)
    num_processes: Optional[int] = None
    master_port: int = 0  # 0: a free port on 127.0.0.1
    # A rank waiting this long for the others (a crashed or hung peer) fails instead of waiting for ever.
    timeout_s: int = 1800

    def __post_init__(self) -> None:
        if self.num_processes is not None and self.num_processes < 1:
            raise ValueError(f"distributed.num_processes: got {self.num_processes}; must be >= 1")
        if self.strategy is Strategy.single and (self.num_processes or 1) > 1:
            raise ValueError("distributed.num_processes: more than 1 needs a ZeRO strategy; use distributed=zero2 or zero3")
        if self.timeout_s < 1:
            raise ValueError(f"distributed.timeout_s: got {self.timeout_s}; must be >= 1")


# The stages that train, and so run on every process.
TRAINING_STAGES = ("sft", "reward_model", "grpo")
# The key of rank 0's result file that says the stage was stopped by a signal (its number).
STOP_RESULT = "interrupted"


def world_size(cfg, device: str) -> int:
    """The number of training processes: ``distributed.num_processes``, or one per GPU of every training node
    (``cluster.nodes - cluster.vllm_nodes`` of them; the GPUs visible here on one node)."""
    d = cfg.distributed
    if Strategy(d.strategy) is Strategy.single:
        return 1
    if d.num_processes is not None:
        return d.num_processes
    if device == "cuda":
        import torch

        nodes = cfg.cluster.nodes - cfg.cluster.vllm_nodes
        if nodes > 1 and cfg.cluster.gpus_per_node == 0:
            raise UserError("device=cuda on several nodes: set cluster.gpus_per_node (or distributed.num_processes)")
        return torch.cuda.device_count() if nodes == 1 else nodes * cfg.cluster.gpus_per_node
    raise UserError(f"distributed={Strategy(d.strategy).value} on CPU: set distributed.num_processes (e.g. 2)")


def deepspeed_config(strategy: Strategy) -> dict:
    """The DeepSpeed config of ``strategy``; "auto" values are filled by the Hugging Face trainer from its own
    arguments (batch size, gradient accumulation and clipping, precision)."""
    zero: dict = {"stage": 2 if strategy is Strategy.zero2 else 3}
    if zero["stage"] == 3:
        zero.update({
            # One gathered HF folder per save, which vLLM and from_pretrained load (not only ZeRO shards).
            "stage3_gather_16bit_weights_on_model_save": True,
            # Prefetching later layers while one computes breaks when TRL's generation forwards run outside
            # the training step (ds3_gather_for_generation=False): fetch on demand instead.
            "stage3_prefetch_bucket_size": 0,
        })
    if strategy is Strategy.zero3_offload:
        zero.update({"offload_optimizer": {"device": "cpu", "pin_memory": True}, "offload_param": {"device": "cpu", "pin_memory": True}})
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


def _processes() -> int:
    """The processes of this stage, as ``torch.distributed.run`` tells each rank (1 outside a launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def in_worker() -> bool:
    """Whether this process is one rank of a multi-process training stage."""
    return _processes() > 1


# The global batches a training stage splits over its processes: config key -> its value in cfg.
GLOBAL_BATCHES = {
    "sft.batch_size": lambda cfg: cfg.sft.batch_size,
    "grpo.prompts_per_step * grpo.num_generations": lambda cfg: cfg.grpo.prompts_per_step * cfg.grpo.num_generations,
    "reward_model.batch_size": lambda cfg: cfg.reward_model.batch_size,
}


def per_process(total: int, key: str, processes: int | None = None) -> int:
    """A global batch ``total`` (config key ``key``) split evenly over ``processes`` (default: this stage's)."""
    processes = processes or _processes()
    if total % processes:
        raise UserError(f"{key}: {total} does not split evenly over {processes} processes (distributed.num_processes)")
    return total // processes


def check_processes(cfg, device: str) -> None:
    """Before anything trains: the process count is known and every global batch splits evenly over it."""
    processes = world_size(cfg, device)
    for key, total in GLOBAL_BATCHES.items():
        per_process(total(cfg), key, processes)


def collective_device() -> str | None:
    """Where a collective's tensors live in a multi-process stage (``cuda:<n>`` under NCCL, ``cpu`` under gloo);
    None in a single process, where there is nothing to reduce."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"


def summed_over_processes(tensor):
    """``tensor`` added up over every training process (each counted its own share of the batch); ``tensor``
    itself in a single process. A collective: every process calls it at the same point."""
    import torch.distributed as dist

    device = collective_device()
    if device is None:
        return tensor
    total = tensor.to(device)
    dist.all_reduce(total)
    return total.to(tensor.device)


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

    active = hf_deepspeed._hf_deepspeed_config_weak_ref  # transformers keeps the trainer's config only by weak reference
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if active is not None and active() is not None:
            hf_deepspeed.set_hf_deepspeed_config(active())


def trainer_args(stage_dir: Path) -> dict:
    """What a TRL config needs to train under the stage's DeepSpeed config; nothing in a single process."""
    if not in_worker():
        return {}
    return {"deepspeed": str(config_dir(stage_dir) / "deepspeed.json"), "accelerator_config": {"use_configured_state": True}}


def from_every_process(value) -> list:
    """``value`` of every training process, in rank order (``[value]`` in a single process); a collective."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that writes files other than the trainer's own."""
    return int(os.environ.get("RANK", "0")) == 0


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
