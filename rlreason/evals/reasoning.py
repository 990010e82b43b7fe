"""Reasoning eval: held-out accuracy, greedy and sampled (pass@1 averaged over k samples)."""

from __future__ import annotations

from rlreason.evals.generation import generate
from rlreason.evals.result import SuiteResult
from rlreason.reward.accuracy import accuracy
from rlreason.reward.format import think_answer_format


def score(completions: list[list[str]], answers: list[str]) -> tuple[float, float]:
    """Mean correctness over all completions, and the share that is well-formatted (the reward functions)."""
    texts = [c for cs in completions for c in cs]
    golds = [a for cs, a in zip(completions, answers) for _ in cs]
    return sum(accuracy(texts, answer=golds)) / len(texts), sum(think_answer_format(texts)) / len(texts)


def evaluate(model, tokenizer, dataset, cfg, seed: int) -> SuiteResult:
    """Greedy accuracy (``accuracy``), sampled pass@1 and format rate on ``prompt``/``answer`` rows."""
    prompts, answers = dataset["prompt"], dataset["answer"]
    common = {"max_new_tokens": cfg.max_new_tokens, "batch_size": cfg.batch_size}
    greedy = [c[0] for c in generate(model, tokenizer, prompts, **common, desc="reasoning greedy")]
    correct = accuracy(greedy, answer=answers)  # per example, for the gates; checked once
    greedy_accuracy = sum(correct) / len(correct)
    format_rate = sum(think_answer_format(greedy)) / len(greedy)
    pass_at_1 = float("nan")
    if cfg.num_samples > 0:
        sampled = generate(
            model, tokenizer, prompts, **common, temperature=cfg.temperature, num_samples=cfg.num_samples,
            seed=seed, desc=f"reasoning sample x{cfg.num_samples}",
        )
        pass_at_1, _ = score(sampled, answers)
    metrics = {
        "accuracy": greedy_accuracy,
        "greedy_accuracy": greedy_accuracy,
        "pass_at_1": pass_at_1,
        "format_rate": format_rate,
        "num_problems": len(prompts),
        "num_samples": cfg.num_samples,
    }
    records = [{"answer": a, "completion": c, "correct": bool(k)} for c, a, k in zip(greedy, answers, correct)]
    return SuiteResult(metrics, {"accuracy": correct}, records)
