"""Stage **eval**: score every checkpoint the pipeline produced on the held-out set.

Features:
- Reasoning: greedy accuracy, sampled pass@1 over ``eval.num_samples`` samples (math-verify), format rate.
- Every completed stage's checkpoint (init, sft, grpo, …) with the same data, decoding and seed, so the
  numbers compare; results land in ``summary.json`` under ``evals`` and in ``eval/accuracy.png``.
"""

from __future__ import annotations

from dataclasses import asdict

from rlreason import tracking
from rlreason.data.loaders import eval_dataset
from rlreason.evals import reasoning
from rlreason.evals.generation import load_for_generation
from rlreason.pipeline import StageResult
from rlreason.runtime import resolve_device, seed_everything


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    dataset = eval_dataset(cfg.data, cfg.seed)
    out = run.stage_dir("eval")
    with tracking.stage_run(cfg, run, "eval") as wandb_run:
        for label, checkpoint in run.checkpoints().items():
            model, tokenizer = load_for_generation(checkpoint, device)
            scores = reasoning.evaluate(model, tokenizer, dataset, cfg.eval, cfg.seed)
            run.summary["evals"][label] = {"reasoning": {"accuracy": scores.greedy_accuracy, **asdict(scores)}}
            run.save()
            if wandb_run is not None:
                wandb_run.log({f"{label}/reasoning/{k}": v for k, v in asdict(scores).items()})
    accuracies = {
        label: {"greedy": e["reasoning"]["greedy_accuracy"], "pass@1": e["reasoning"]["pass_at_1"]}
        for label, e in run.summary["evals"].items()
    }
    tracking.plot_accuracy(accuracies, out / "accuracy.png")
    return StageResult(checkpoint=None, metrics={label: a["greedy"] for label, a in accuracies.items()})
