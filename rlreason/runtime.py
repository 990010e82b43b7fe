"""Device, precision and seeding: the facts every trainer is configured from."""

from __future__ import annotations

import torch
from transformers import set_seed


def resolve_device(device: str) -> str:
    """``auto`` is ``cuda`` when a GPU is visible, else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda, but no CUDA device is visible; use device=cpu or device=auto")
    return device


def precision_args(device: str) -> dict:
    """TRL's configs default to ``bf16=None``, which fails on CPU: decide precision from the device."""
    if device == "cuda":
        return {"bf16": torch.cuda.is_bf16_supported(), "fp16": False, "use_cpu": False}
    return {"bf16": False, "fp16": False, "use_cpu": True}


def seed_everything(seed: int) -> None:
    set_seed(seed, deterministic=False)
