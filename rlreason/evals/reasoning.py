"""Reasoning eval: held-out accuracy, greedy and sampled (pass@1 averaged over k samples)."""

from __future__ import annotations

from rlreason.evals.generation import generate
from rlreason.evals.result import SuiteResult
from rlreason.reward.accuracy import is_correct
from rlreason.reward.format import think_answer_format
from rlreason.reward.parsing import extract_answer


def score(completions: list[list[str]], answers: list[str]) -> tuple[float, float]:
    """Mean correctness over all completions, and the share that is well-formatted."""
    flat = [(c, a) for cs, a in zip(completions, answers) for c in cs]
    correct = sum(is_correct(extract_answer(c), a) for c, a in flat)
    formatted = sum(think_answer_format([c for c, _ in flat]))
    return correct / len(flat), formatted / len(flat)


def evaluate(model, tokenizer, dataset, cfg, seed: int) -> SuiteResult:
    """Greedy accuracy (``accuracy``), sampled pass@1 and format rate on ``prompt``/``answer`` rows."""
    prompts, answers = dataset["prompt"], dataset["answer"]
    common = {"max_new_tokens": cfg.max_new_tokens, "batch_size": cfg.batch_size}
    greedy = generate(model, tokenizer, prompts, **common, desc="reasoning greedy")
    greedy_accuracy, format_rate = score(greedy, answers)
    pass_at_1 = float("nan")
    if cfg.num_samples > 0:
        sampled = generate(
            model, tokenizer, prompts, **common, temperature=cfg.temperature, num_samples=cfg.num_samples,
            seed=seed, desc=f"reasoning sample x{cfg.num_samples}",
        )
        pass_at_1, _ = score(sampled, answers)
    correct = [float(is_correct(extract_answer(c[0]), a)) for c, a in zip(greedy, answers)]
    metrics = {
        "accuracy": greedy_accuracy,
        "greedy_accuracy": greedy_accuracy,
        "pass_at_1": pass_at_1,
        "format_rate": format_rate,
        "num_problems": len(prompts),
        "num_samples": cfg.num_samples,
    }
    records = [{"answer": a, "completion": c[0], "correct": bool(k)} for c, a, k in zip(greedy, answers, correct)]
    return SuiteResult(metrics, {"accuracy": correct}, records)
