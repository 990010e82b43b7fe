"""Stage **eval**: score every checkpoint the pipeline produced, and gate each against a baseline.

Features:
- reasoning: greedy accuracy, sampled pass@1 over ``eval.num_samples`` samples (math-verify), format rate,
  on the held-out split of the configured data;
- function calling and safety: on the held-out synthetic sets (``data.tool_calling.test_size``,
  ``data.safety.test_size``), or on public-format files when given (BFCL ``eval.function_calling.*``,
  XSTest / AdvBench csv ``eval.safety.*``); refusals judged by rules, a classifier checkpoint or an
  OpenAI-compatible endpoint (``eval.safety.judge``);
- completions from one vLLM engine that swaps in each checkpoint's weights (``eval.engine``, by default the
  rollout engine), or from Hugging Face ``generate`` (``eval.engine=hf``);
- the same data, engine, decoding and seed for every checkpoint, so the numbers compare; per-example outputs in
  ``eval/<checkpoint>/<suite>.jsonl``, scores in ``summary.json`` (``evals``) and ``eval/accuracy.png``;
- regression gates (``conf/eval/gates.yaml``) against ``eval.baseline`` (default: the checkpoint before the
  first RL stage): verdicts in ``summary.json`` (``gates``), ``eval/gates.md`` and W&B; with
  ``eval.fail_on_regression=true`` a failed gate fails the stage.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path

from rlreason import tracking
from rlreason.data.loaders import eval_dataset, function_calling_eval_set, safety_eval_set
from rlreason.evals import datasets, reasoning
from rlreason.evals.gates import evaluate_gate, markdown_report
from rlreason.evals.generation import HFGenerator, VLLMGenerator
from rlreason.evals.judge import build_judge
from rlreason.evals.suites import evaluate_function_calling, evaluate_safety
from rlreason.pipeline import StageResult, stage_name
from rlreason.rollout.engine import uses_vllm
from rlreason.runtime import resolve_device, seed_everything

RL_STAGES = ("grpo",)


class RegressionError(RuntimeError):
    """A gate failed and ``eval.fail_on_regression`` is set."""


def _limited(examples: list, limit: int) -> list:
    return examples[:limit] if limit > 0 else examples


def load_suites(cfg) -> dict:
    """Each suite's examples, loaded once for all checkpoints: files when given, else the synthetic test sets."""
    suites = {"reasoning": eval_dataset(cfg.data, cfg.seed)}
    files = cfg.eval.function_calling
    if files.data:
        suites["function_calling"] = _limited(datasets.load_bfcl(files.data, files.answers), files.limit)
    elif cfg.data.tool_calling.test_size > 0:
        suites["function_calling"] = function_calling_eval_set(cfg.data, cfg.seed)
    if cfg.eval.safety.data:
        suites["safety"] = _limited(datasets.load_safety(cfg.eval.safety.data), cfg.eval.safety.limit)
    elif cfg.data.safety.test_size > 0:
        suites["safety"] = safety_eval_set(cfg.data, cfg.seed)
    return suites


def listed_checkpoints(paths: list[str]) -> dict[str, str]:
    """``eval.checkpoints`` keyed by label: the folder name, or the stage for a run's ``<stage>/model``."""
    labelled: dict[str, str] = {}
    for path in map(Path, paths):
        if not path.is_dir():
            raise FileNotFoundError(f"eval.checkpoints: {path} is not a checkpoint folder")
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
            raise ValueError(f"eval.baseline={cfg.eval.baseline}: no such checkpoint; allowed: {', '.join(labels)}")
        return cfg.eval.baseline
    if cfg.eval.checkpoints:
        return labels[0]
    first_rl = next((i for i, label in enumerate(labels) if stage_name(label) in RL_STAGES), len(labels))
    return labels[first_rl - 1] if first_rl > 0 else labels[0]


def build_generator(cfg, device: str):
    """``eval.engine``: vLLM where installed (settings of ``conf/rollout``), else Hugging Face generate."""
    if uses_vllm(cfg.eval.engine, "eval.engine"):
        return VLLMGenerator(device, cfg.seed, cfg.rollout)
    return HFGenerator(device, cfg.eval.batch_size)


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    suites = load_suites(cfg)
    judge = build_judge(cfg.eval.safety.judge) if "safety" in suites else None
    out = run.stage_dir("eval")
    checkpoints = listed_checkpoints(cfg.eval.checkpoints) if cfg.eval.checkpoints else run.checkpoints()
    if not checkpoints:
        raise ValueError("nothing to evaluate: run eval after a stage that makes a checkpoint, or set eval.checkpoints")
    per_example: dict[str, dict[str, dict[str, list[float]]]] = {}
    generator = build_generator(cfg, device)
    with tracking.stage_run(cfg, run, "eval") as wandb_run, contextlib.closing(generator):
        for label, checkpoint in checkpoints.items():
            generator.load(checkpoint)
            results = {"reasoning": reasoning.evaluate(generator, suites["reasoning"], cfg.eval, cfg.seed)}
            if "function_calling" in suites:
                results["function_calling"] = evaluate_function_calling(generator, suites["function_calling"], cfg.eval)
            if "safety" in suites:
                results["safety"] = evaluate_safety(generator, suites["safety"], cfg.eval, judge)
            (out / label).mkdir(exist_ok=True)
            for suite, result in results.items():
                with open(out / label / f"{suite}.jsonl", "w", encoding="utf-8") as handle:
                    handle.writelines(json.dumps(record) + "\n" for record in result.records)
            run.summary["evals"][label] = {suite: result.metrics for suite, result in results.items()}
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

    accuracies = {
        label: {"greedy": e["reasoning"]["greedy_accuracy"], "pass@1": e["reasoning"]["pass_at_1"]}
        for label, e in run.summary["evals"].items()
        if label in checkpoints
    }
    tracking.plot_accuracy(accuracies, out / "accuracy.png")
    failed = [g for g in gates if not g.passed]
    if failed and cfg.eval.fail_on_regression:
        names = ", ".join(f"{g.checkpoint} {g.suite}/{g.metric} {g.change:+.3f}" for g in failed)
        raise RegressionError(f"regression gate(s) failed: {names} (eval.fail_on_regression=true); see {out / 'gates.md'}")
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
