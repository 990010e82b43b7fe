"""Stage **eval**: score every checkpoint the pipeline produced on every task, and gate each against a baseline.

Features:
- every task of ``rlreason.tasks.TASKS`` (reasoning, tool_calling, tool_use, safety), each on its held-out split of
  ``data`` or on public-format files (``eval.<task>.data``; BFCL needs ``eval.tool_calling.answers``): GSM8K /
  MATH / AIME / AMC jsonl, BFCL, XSTest / AdvBench / StrongREJECT / HarmBench csv;
- reasoning: greedy accuracy, sampled pass@1 / pass@k / maj@k over ``eval.num_samples`` samples, format rate;
  tool calling: accuracy per BFCL category; safety: refusal and over-refusal rates, refusals judged by rules,
  a classifier checkpoint or an OpenAI-compatible endpoint (``eval.safety.judge``);
- completions from one vLLM engine that swaps in each checkpoint's weights (``eval.engine``, by default the
  rollout engine), or from Hugging Face ``generate`` (``eval.engine=hf``);
- the same data, engine, decoding and seed for every checkpoint, so the numbers compare; per-example outputs in
  ``eval/<checkpoint>/<task>.jsonl``, scores in ``summary.json`` (``evals``) and ``eval/accuracy.png``;
- retention (``eval.retention``, on with ``model=pretrained``): each checkpoint's NLL on reference texts, so
  a fine-tune that erases what the pretrained model knew shows (``rlreason/evals/retention.py``);
- regression gates (``eval.gates``, by default each task's own) against ``eval.baseline`` (default: the
  checkpoint before the first RL stage): verdicts in ``summary.json`` (``gates``), ``eval/gates.md`` and W&B;
  with ``eval.fail_on_regression=true`` a failed gate fails the stage.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path

from rlreason import tracking
from rlreason.data.mixer import load_suites
from rlreason.errors import MissingInput, UserError
from rlreason.evals import retention
from rlreason.evals.gates import evaluate_gate, markdown_report
from rlreason.rollout.generation import build_generator
from rlreason.runtime import resolve_device, seed_everything
from rlreason.stages.contract import StageResult, stage_name
from rlreason.tasks import TASKS

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = ("seed", "data", "eval")


RL_STAGES = ("grpo",)


class RegressionError(RuntimeError):
    """A gate failed and ``eval.fail_on_regression`` is set."""


def listed_checkpoints(paths: list[str]) -> dict[str, str]:
    """``eval.checkpoints`` keyed by label: the folder name, or the stage for a run's ``<stage>/model``."""
    labelled: dict[str, str] = {}
    for path in map(Path, paths):
        if not path.is_dir():
            raise MissingInput(f"eval.checkpoints: {path} is not a checkpoint folder")
        base = path.parent.name if path.name == "model" else path.name
        label, n = base, 1
        while label in labelled:
            n += 1
            label = f"{base}_{n}"
        labelled[label] = str(path.resolve())
    return labelled


def baseline_label(cfg, labels: list[str]) -> str:
    """``eval.baseline``; the first of ``eval.checkpoints``; or the last checkpoint before the first RL stage."""
    if cfg.eval.baseline is not None:
        if cfg.eval.baseline not in labels:
            raise UserError(f"eval.baseline={cfg.eval.baseline}: no such checkpoint; allowed: {', '.join(labels)}")
        return cfg.eval.baseline
    if cfg.eval.checkpoints:
        return labels[0]
    first_rl = next((i for i, label in enumerate(labels) if stage_name(label) in RL_STAGES), len(labels))
    return labels[first_rl - 1] if first_rl > 0 else labels[0]


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    suites = load_suites(cfg)
    texts = retention.load_texts(cfg.eval.retention) if cfg.eval.retention.texts else None
    out = run.stage_dir("eval")
    checkpoints = listed_checkpoints(cfg.eval.checkpoints) if cfg.eval.checkpoints else run.checkpoints()
    if not checkpoints:
        raise UserError("nothing to evaluate: run eval after a stage that makes a checkpoint, or set eval.checkpoints")
    per_example: dict[str, dict[str, dict[str, list[float]]]] = {}
    generator = build_generator(
        cfg.eval.engine,
        "eval.engine",
        device=device,
        seed=cfg.seed,
        rollout=cfg.rollout,
        batch_size=cfg.eval.batch_size,
        checkpoint=next(iter(checkpoints.values())),
    )
    with tracking.stage_run(cfg, run, "eval") as wandb_run, contextlib.closing(generator):
        for label, checkpoint in checkpoints.items():
            generator.load(checkpoint)
            results = {
                name: TASKS[name].evaluate(generator, examples, cfg.eval, cfg.seed) for name, examples in suites.items()
            }
            if texts:
                results[retention.SUITE] = retention.evaluate(generator, texts, cfg.eval.retention)
            (out / label).mkdir(exist_ok=True)
            for suite, result in results.items():
                with open(out / label / f"{suite}.jsonl", "w", encoding="utf-8") as handle:
                    handle.writelines(json.dumps(record) + "\n" for record in result.records)
            run.summary["evals"][label] = {suite: result.metrics for suite, result in results.items()}
            retention.add_changes(
                {name: run.summary["evals"][name] for name in checkpoints if name in run.summary["evals"]}
            )
            per_example[label] = {suite: result.per_example for suite, result in results.items()}
            run.save()
            if wandb_run is not None:
                wandb_run.log({f"{label}/{s}/{k}": v for s, r in results.items() for k, v in r.metrics.items()})

        gates = check_gates(cfg, list(checkpoints), per_example)
        run.summary["gates"] = [asdict(g) for g in gates]
        run.save()
        (out / "gates.md").write_text(markdown_report(gates))
        if wandb_run is not None and gates:
            import wandb

            rows = [list(asdict(g).values()) for g in gates]
            wandb_run.log({"gates": wandb.Table(columns=list(asdict(gates[0])), data=rows)})

    plotted = {"greedy_accuracy": "greedy", "pass_at_1": "pass@1"}  # pass@1 only when eval.num_samples > 0
    accuracies = {
        label: {name: e["reasoning"][key] for key, name in plotted.items() if key in e["reasoning"]}
        for label, e in run.summary["evals"].items()
        if label in checkpoints and "reasoning" in e
    }
    tracking.plot_accuracy(accuracies, out / "accuracy.png")
    failed = [g for g in gates if not g.passed]
    if failed and cfg.eval.fail_on_regression:
        names = ", ".join(f"{g.checkpoint} {g.suite}/{g.metric} {g.change:+.3f}" for g in failed)
        raise RegressionError(
            f"regression gate(s) failed: {names} (eval.fail_on_regression=true); see {out / 'gates.md'}"
        )
    metrics = {label: a["greedy"] for label, a in accuracies.items()}
    metrics["gates_failed"] = len(failed)
    return StageResult(checkpoint=None, metrics=metrics)


def check_gates(cfg, labels: list[str], per_example: dict) -> list:
    """Every checkpoint after the baseline, on every gated metric of every suite that ran."""
    if len(labels) < 2:
        return []
    baseline = baseline_label(cfg, labels)
    later = labels[labels.index(baseline) + 1 :]
    results = []
    for label in later:
        for gate in cfg.eval.gates.thresholds:
            scores = per_example[label].get(gate.suite, {}).get(gate.metric)
            reference = per_example[baseline].get(gate.suite, {}).get(gate.metric)
            if not scores or not reference:
                continue  # the suite did not run, or this side of it (e.g. no benign prompts) is empty
            results.append(evaluate_gate(gate, label, scores, baseline, reference, cfg.eval.gates, cfg.seed))
    return results
