"""Which process this is, and what the processes of a multi-process training stage add up together.

Rank checks read the environment ``torch.distributed.run`` sets; the collectives import torch when called and
are no-ops in a single process, so any module may use them (routing statistics, the trainer callbacks)."""

from __future__ import annotations

import os

from rlreason.errors import UserError


def _processes() -> int:
    """The processes of this stage, as ``torch.distributed.run`` tells each rank (1 outside a launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def in_worker() -> bool:
    """Whether this process is one rank of a multi-process training stage."""
    return _processes() > 1


def per_process(total: int, key: str, processes: int | None = None) -> int:
    """A global batch ``total`` (config key ``key``) split evenly over ``processes`` (default: this stage's)."""
    processes = processes or _processes()
    if total % processes:
        raise UserError(f"{key}: {total} does not split evenly over {processes} processes (distributed.num_processes)")
    return total // processes


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
