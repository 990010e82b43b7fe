"""Training step time and peak memory per process: one process against DeepSpeed ZeRO-2 / ZeRO-3 (/ ZeRO-3 with
CPU offload) on ``--processes`` processes, for the tiny MoE and for a random-init MoE of ~107M parameters.

Each strategy runs the real command, ``rlreason pipeline.stages=[init,sft] distributed=...``, with the same
global batch, and the SFT entry of ``summary.json`` gives its seconds per optimizer step and each process's
peak memory (resident memory on CPU, allocated memory on GPU). Figures are ratios to the single process of the
same model, measured in this one script on this machine. On CPU the processes share the cores (each gets
``cores / processes`` threads), so the step time shows what sharding costs in communication and contention, not
the speed-up a GPU per process gives; the memory per process is what ZeRO saves. Ends with one JSON line::

    {"tiny": {"single": {...}, "zero2": {...}, "zero3": {...}}, "moe_107m": {...},
     "single": ..., "zero2": ..., "zero3": ...}

where the top-level ``single`` / ``zero2`` / ``zero3`` are the ~107M model's per-process memory ratios.

Usage: python bench/zero.py [--processes 2] [--steps 6] [--offload] [--models tiny,moe_107m]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# A random-init Qwen3-MoE of ~107M parameters: 8 layers of 16 experts (2 routed per token) at width 512.
MOE_107M = [
    "model.tiny_moe.hidden_size=512",
    "model.tiny_moe.num_hidden_layers=8",
    "model.tiny_moe.num_attention_heads=8",
    "model.tiny_moe.num_key_value_heads=4",
    "model.tiny_moe.head_dim=64",
    "model.tiny_moe.num_experts=16",
    "model.tiny_moe.moe_intermediate_size=512",
]
MODELS = {"tiny": [], "moe_107m": MOE_107M}
COMMON = [
    "logger=none",
    "pipeline.stages=[init,sft]",
    "model.tiny_moe.tokenizer_corpus_size=500",
    "sft.batch_size=8",
    "sft.warmup_steps=0",
    "sft.logging_steps=1",
    "data.reasoning.sft_size=128",
    "data.tool_calling.sft_size=32",
    "data.safety.sft_size=16",
]


def measure(
    run_dir: Path, model: list[str], strategy: str, processes: int, steps: int, extra: tuple[str, ...] = ()
) -> dict:
    """One ``rlreason pipeline.stages=[init,sft]`` run; its SFT entry's step time, memory and parameter figures."""
    distributed = [] if strategy == "single" else [f"distributed={strategy}", f"distributed.num_processes={processes}"]
    command = [
        sys.executable,
        "-m",
        "rlreason",
        f"run_dir={run_dir}",
        *COMMON,
        *model,
        f"sft.max_steps={steps}",
        *distributed,
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    if done.returncode != 0:
        raise SystemExit(f"{strategy}: rlreason failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    sft = json.loads((run_dir / "summary.json").read_text())["stages"]["sft"]["metrics"]
    return {
        "seconds_per_step": sft["seconds_per_step"],
        "peak_memory_mib": sft["peak_memory_mib"],
        "train_loss": sft["train_loss"],
        "trainable_parameters": sft["trainable_parameters"],
        "optimizer_state_mib": sft["optimizer_state_mib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--offload", action="store_true", help="also zero3_offload (builds DeepSpeed's CPU Adam once)")
    parser.add_argument("--models", default="tiny,moe_107m")
    args = parser.parse_args()
    strategies = ["single", "zero2", "zero3"] + (["zero3_offload"] if args.offload else [])
    report: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            figures = {
                s: measure(Path(scratch) / f"{name}_{s}", MODELS[name], s, args.processes, args.steps)
                for s in strategies
            }
            base = figures["single"]
            for strategy, f in figures.items():
                f["step_time_ratio"] = round(f["seconds_per_step"] / base["seconds_per_step"], 3)
                f["memory_per_process_ratio"] = round(max(f["peak_memory_mib"]) / base["peak_memory_mib"][0], 3)
                f["loss_difference"] = abs(f["train_loss"] - base["train_loss"])
                print(
                    f"{name:>9} {strategy:>13}: {f['seconds_per_step']:.3f} s/step ({f['step_time_ratio']}x), "
                    f"peak {f['peak_memory_mib']} MiB per process ({f['memory_per_process_ratio']}x), "
                    f"|loss - single| {f['loss_difference']:.2e}",
                    flush=True,
                )
            report[name] = figures
    headline = report.get("moe_107m") or next(iter(report.values()))
    print(json.dumps({**report, **{s: headline[s]["memory_per_process_ratio"] for s in strategies}}))


if __name__ == "__main__":
    main()
