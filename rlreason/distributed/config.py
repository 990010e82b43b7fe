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

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from rlreason.distributed.comm import per_process
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
            raise ValueError(
                "distributed.num_processes: more than 1 needs a ZeRO strategy; use distributed=zero2 or zero3"
            )
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


# The global batches a training stage splits over its processes: config key -> its value in cfg.
GLOBAL_BATCHES = {
    "sft.batch_size": lambda cfg: cfg.sft.batch_size,
    "grpo.prompts_per_step * grpo.num_generations": lambda cfg: cfg.grpo.prompts_per_step * cfg.grpo.num_generations,
    "reward_model.batch_size": lambda cfg: cfg.reward_model.batch_size,
}


def check_processes(cfg, device: str) -> None:
    """Before anything trains: the process count is known and every global batch splits evenly over it."""
    processes = world_size(cfg, device)
    for key, total in GLOBAL_BATCHES.items():
        per_process(total(cfg), key, processes)
