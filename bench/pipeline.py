"""Where the default pipeline's time goes, and what a candidate config changes, measured side by side.

Each config runs the whole pipeline (``rlreason``'s own ``run_pipeline``, in a fresh process, as ``make run``
does) with timers around the parts a stage spends its time in:

- ``startup``: the process until the pipeline starts (imports of TRL, vLLM, DeepSpeed; composing the config);
- ``data``: building each stage's rows (``rlreason/data/mixer.py``); ``tokenization``: TRL's dataset preparation;
- ``model_load``: loading checkpoints; ``vllm_start``: starting a vLLM engine;
- ``forward``, ``backward``, ``optimizer``: the trainer's loss forward, its backward and optimizer step;
- ``generation``: GRPO's vLLM sampling; ``weight_sync``: loading the policy's weights into vLLM;
  ``rewards``: scoring completions; ``routing_agreement``: the MoE routing comparison;
- ``eval_generation``: the eval stage's completions; ``wandb_plots``: W&B runs, their log calls and the plots;
- ``other``: the rest of the stage (bookkeeping, checkpoint saving, evaluation scoring).

A part's time is counted in the stage that ran it; parts do not nest (generation, for one, is timed apart from
the forward that follows it). Prints a table of seconds and shares per stage and part for both configs, the
candidate/baseline ratio of each, the held-out scores of both, and one JSON line::

    {"baseline": {"stages": {...}, "parts": {...}, "scores": {...}, "wall_s": ...}, "candidate": {...},
     "ratio": {"wall": ..., "stages": {...}}}

Usage: python bench/pipeline.py [--baseline OVERRIDE ...] [--candidate OVERRIDE ...] [--root runs/bench_pipeline]
(with no --candidate, only the baseline runs: the default pipeline's profile; the candidate runs the baseline's
overrides, then its own).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

PARTS = (
    "startup",
    "data",
    "tokenization",
    "model_load",
    "vllm_start",
    "forward",
    "backward",
    "optimizer",
    "generation",
    "weight_sync",
    "rewards",
    "routing_agreement",
    "eval_generation",
    "wandb_plots",
)


class Timers:
    """Seconds per (stage, part); the stage is the one the pipeline is running."""

    def __init__(self):
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.stage = "startup"
        self.active: str | None = None  # the part being timed: an inner call of a timed part is not counted twice

    @contextlib.contextmanager
    def part(self, name: str):
        if self.active is not None:
            yield
            return
        self.active, start = name, time.perf_counter()
        try:
            yield
        finally:
            self.seconds[self.stage][name] += time.perf_counter() - start
            self.active = None

    def wrap(self, owner, attribute: str, name: str) -> None:
        """Time every call of ``owner.attribute`` (a function of a module or a method of a class) as ``name``."""
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            with self.part(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def wrap_context(self, owner, attribute: str, name: str) -> None:
        """Time entering and leaving the context managers ``owner.attribute`` returns."""
        original = getattr(owner, attribute)

        @contextlib.contextmanager
        def timed(*args, **kwargs):
            manager = original(*args, **kwargs)
            with self.part(name):
                value = manager.__enter__()
            try:
                yield value
            except BaseException:
                with self.part(name):
                    if not manager.__exit__(*sys.exc_info()):
                        raise
            else:
                with self.part(name):
                    manager.__exit__(None, None, None)

        setattr(owner, attribute, timed)


def instrument(timers: Timers) -> None:
    """Put the timers around the parts (imports here are the pipeline's own, so they count as start-up)."""
    import accelerate.optimizer
    from transformers.integrations import WandbCallback
    from trl import GRPOTrainer, SFTTrainer

    from rlreason import pipeline, tracking
    from rlreason.models import loading
    from rlreason.rollout import colocate, generation, routing_agreement
    from rlreason.stages import eval as eval_stage
    from rlreason.stages import grpo, sft, training

    original_run_stage = pipeline._run_stage

    def run_stage(cfg, run, label, stage, step):
        timers.stage = label
        return original_run_stage(cfg, run, label, stage, step)

    pipeline._run_stage = run_stage
    for module in (sft, grpo, eval_stage):  # the stages import the mixer's builders by name
        for name in ("sft_dataset", "rollout_sft_dataset", "grpo_dataset", "held_out_sets"):
            if hasattr(module, name):
                timers.wrap(module, name, "data")
    timers.wrap(SFTTrainer, "_prepare_dataset", "tokenization")
    for module in (sft, grpo, training, loading):
        if hasattr(module, "load_policy"):
            timers.wrap(module, "load_policy", "model_load")
    timers.wrap(colocate, "start_llm", "vllm_start")
    timers.wrap(generation, "start_llm", "vllm_start")
    for trainer in (SFTTrainer, GRPOTrainer):  # the loss forward (GRPO samples before it, in _prepare_inputs)
        timers.wrap(trainer, "compute_loss", "forward")
    timers.wrap(accelerate.Accelerator, "backward", "backward")
    timers.wrap(accelerate.optimizer.AcceleratedOptimizer, "step", "optimizer")
    timers.wrap(colocate.CPUColocateGeneration, "generate", "generation")
    timers.wrap(colocate.CPUColocateGeneration, "sync_weights", "weight_sync")
    timers.wrap(GRPOTrainer, "_calculate_rewards", "rewards")
    timers.wrap(routing_agreement.RoutingAgreement, "measure", "routing_agreement")
    timers.wrap(generation.VLLMGenerator, "generate_ids", "eval_generation")
    timers.wrap(generation.HFGenerator, "generate_ids", "eval_generation")
    timers.wrap_context(tracking, "stage_run", "wandb_plots")
    timers.wrap(tracking, "plot_training_curves", "wandb_plots")
    timers.wrap(tracking, "plot_accuracy", "wandb_plots")
    timers.wrap(WandbCallback, "on_log", "wandb_plots")


def profile_one(overrides: list[str], out: Path) -> None:
    """In this process: one pipeline run with the timers; writes its figures to ``out``."""
    start = time.perf_counter()
    timers = Timers()
    with timers.part("startup"):
        import rlreason.cli  # noqa: F401  (the command's environment defaults: offline hubs, quiet tokenizers)
        from rlreason.config import compose
        from rlreason.pipeline import run_pipeline

        instrument(timers)
        cfg = compose(overrides)
    run = run_pipeline(cfg)
    wall = time.perf_counter() - start
    summary = run.summary
    stages = {label: round(entry["seconds"], 1) for label, entry in summary["stages"].items()}
    parts = {
        stage: {name: round(value, 2) for name, value in values.items()} for stage, values in timers.seconds.items()
    }
    for label, seconds in stages.items():
        timed = parts.setdefault(label, {})
        timed["other"] = round(seconds - sum(timed.values()), 2)
    scores = {
        "grpo_reasoning": summary["evals"].get("grpo", {}).get("reasoning", {}).get("accuracy"),
        "sft_reasoning": summary["evals"].get("sft", {}).get("reasoning", {}).get("accuracy"),
        "gates_passed": all(g["passed"] for g in summary.get("gates", [])),
    }
    out.write_text(json.dumps({"stages": stages, "parts": parts, "scores": scores, "wall_s": round(wall, 1)}))


def measure(name: str, overrides: list[str], root: Path) -> dict:
    """One config's profile, in a fresh process (its own imports, engines and threads, as ``make run``)."""
    run_dir, out = root / name, root / f"{name}.json"
    command = [sys.executable, __file__, "--one", str(out), "--", f"run_dir={run_dir}", *overrides]
    with open(root / f"{name}.log", "w") as log:
        done = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "WANDB_MODE": "offline"}
        )
    if done.returncode != 0:
        raise SystemExit(f"{name}: the pipeline failed; see {root / f'{name}.log'}")
    return json.loads(out.read_text())


def table(name: str, figures: dict) -> None:
    print(f"\n{name}: {figures['wall_s']:.1f} s wall; scores {figures['scores']}")
    print(f"{'stage':<10} {'part':<18} {'seconds':>8} {'share':>6}")
    total = sum(figures["stages"].values()) or 1.0
    startup = figures["parts"].get("startup", {}).get("startup", 0.0)
    print(f"{'-':<10} {'startup':<18} {startup:>8.1f} {startup / figures['wall_s']:>6.1%}")
    for stage, seconds in figures["stages"].items():
        print(f"{stage:<10} {'(stage)':<18} {seconds:>8.1f} {seconds / total:>6.1%}")
        for part, value in sorted(figures["parts"].get(stage, {}).items(), key=lambda kv: -kv[1]):
            if value >= 0.05:
                print(f"{'':<10} {part:<18} {value:>8.1f} {value / seconds if seconds else 0:>6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--baseline", nargs="*", default=[], help="overrides of the baseline (default: none, the product's defaults)"
    )
    parser.add_argument(
        "--candidate", nargs="*", default=None, help="overrides of the candidate, applied after the baseline's"
    )
    parser.add_argument("--root", default="runs/bench_pipeline")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: profile one config in this process
    args, rest = parser.parse_known_args()
    if args.one:
        profile_one([a for a in rest if a != "--"], Path(args.one))
        return
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    results = {"baseline": measure("baseline", args.baseline, root)}
    if args.candidate is not None:
        results["candidate"] = measure("candidate", args.baseline + args.candidate, root)
    for name, figures in results.items():
        table(name, figures)
    if "candidate" in results:
        base, cand = results["baseline"], results["candidate"]
        results["ratio"] = {
            "wall": round(cand["wall_s"] / base["wall_s"], 3),
            "stages": {
                s: round(cand["stages"][s] / base["stages"][s], 3)
                for s in base["stages"]
                if base["stages"][s] and s in cand["stages"]
            },
        }
        print(f"\ncandidate / baseline: wall {results['ratio']['wall']}, stages {results['ratio']['stages']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
