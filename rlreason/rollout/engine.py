"""Start a vLLM engine the way every rlreason component does (generators, colocated GRPO engine, bench)."""

from __future__ import annotations

import importlib.util
import logging
import os

logger = logging.getLogger(__name__)


def context_limit(cfg, checkpoint: str) -> int:
    """The longest sequence GRPO can sample: the engine's context and the model's positions, whichever is less."""
    from transformers import AutoConfig

    positions = getattr(AutoConfig.from_pretrained(checkpoint).get_text_config(), "max_position_embeddings", None)
    limits = [cfg.rollout.max_model_length] if cfg.rollout.engine.value == "vllm" else []
    return min(limits + ([positions] if positions else [])) if limits or positions else 10**9


def cpu_unsupported(config) -> str | None:
    """Why vLLM's CPU build cannot run a model of this (transformers) ``config``, or None when it can.

    Multi-head latent attention (DeepSeek-V2/V3: ``kv_lora_rank`` set) has CPU kernels for bf16/fp16 weights
    only, and rlreason keeps the policy's fp32 so the synced engine samples what the trainer scores."""
    text = config.get_text_config()
    dtype = str(getattr(text, "dtype", None) or getattr(config, "dtype", None) or "float32").removeprefix("torch.")
    if getattr(text, "kv_lora_rank", None) and dtype == "float32":
        return (
            f"{type(config).__name__}'s multi-head latent attention runs in bf16/fp16 only on vLLM's CPU build, "
            "and the checkpoint is float32"
        )
    return None


def uses_vllm(engine, setting: str, *, device: str | None = None, config=None) -> bool:
    """``engine`` (a :class:`~rlreason.rollout.config.RolloutEngine`) is vLLM, vLLM is installed and, on CPU, runs
    the model of ``config``; otherwise False, with a warning naming ``setting`` when vLLM was asked for (the
    caller falls back to Hugging Face generate)."""
    if engine.value != "vllm":
        return False
    if importlib.util.find_spec("vllm") is None:
        logger.warning("%s=vllm but vLLM is not installed; falling back to Hugging Face generate", setting)
        return False
    reason = cpu_unsupported(config) if device == "cpu" and config is not None else None
    if reason:
        logger.warning(
            "%s=vllm: %s; falling back to Hugging Face generate (%s=hf silences this)", setting, reason, setting
        )
        return False
    return True


def cpu_engine_env(kv_cache_gib: int) -> None:
    """Process settings a CPU engine needs before it starts: in-process (2-5 s to start instead of 20-35 s
    for the multiprocess engine), a KV cache sized for a small model instead of most of the RAM, and
    ``OMP_NUM_THREADS`` set, without which vLLM drops the whole process, trainer included, to one torch
    thread (measured: GRPO steps 1.5x slower on 2 cores)."""
    import torch

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(kv_cache_gib)


def start_llm(model_path: str, *, device: str, seed: int, rollout, dtype: str | None = None, **engine_kwargs):
    """A ``vllm.LLM`` on ``model_path`` with the settings of ``conf/rollout/`` (``rollout``).

    ``dtype`` defaults to the checkpoint's own (vLLM would pick bf16 on CPU, halving its speed and drifting from
    an fp32 policy). On CPU: eager mode and a small KV cache; on GPU: the configured share of GPU memory.
    ``engine_kwargs`` go to ``vllm.LLM`` and win over these (``max_model_len=None``: the model's own limit).
    """
    from transformers import AutoConfig
    from vllm import LLM

    if dtype is None:
        dtype = str(AutoConfig.from_pretrained(model_path).dtype or "auto").removeprefix("torch.")
    if device == "cpu":
        cpu_engine_env(rollout.kv_cache_gib)
    else:
        engine_kwargs.setdefault("gpu_memory_utilization", rollout.gpu_memory_utilization)
    engine_kwargs.setdefault("max_model_len", rollout.max_model_length)
    return LLM(model=model_path, dtype=dtype, seed=seed, enforce_eager=rollout.enforce_eager, **engine_kwargs)
