"""Reasoning eval: held-out accuracy, greedy and sampled (pass@1 averaged over k samples, pass@k, maj@k)."""

from __future__ import annotations

from collections import Counter

from rlreason.evals.result import SuiteResult
from rlreason.reward.accuracy import accuracy, is_correct
from rlreason.reward.format import think_answer_format
from rlreason.reward.parsing import completion_text, extract_answer


def score(completions: list[list[str]], answers: list[str]) -> tuple[float, float]:
    """Mean correctness over all completions, and the share that is well-formatted (the reward functions)."""
    texts = [c for cs in completions for c in cs]
    golds = [a for cs, a in zip(completions, answers) for _ in cs]
    return sum(accuracy(texts, answer=golds)) / len(texts), sum(think_answer_format(texts)) / len(texts)


def majority_answer(completions: list) -> str | None:
    """The most frequent ``<answer>`` among a problem's samples (the first seen wins a tie); None if none."""
    found = [extract_answer(completion_text(c)) for c in completions]
    votes = Counter(a for a in found if a)
    return max(votes, key=lambda a: (votes[a], -found.index(a))) if votes else None


def pass_and_majority(completions: list[list[str]], answers: list[str]) -> tuple[float, float]:
    """pass@k (any of a problem's k samples correct) and maj@k (the majority answer correct)."""
    passed = [any(accuracy(cs, answer=[a] * len(cs))) for cs, a in zip(completions, answers)]
    majority = [is_correct(majority_answer(cs), a) for cs, a in zip(completions, answers)]
    return sum(passed) / len(passed), sum(majority) / len(majority)


def evaluate(generator, dataset, cfg, seed: int) -> SuiteResult:
    """Greedy accuracy (``accuracy``), format rate, and over ``eval.num_samples`` samples pass@1 (mean
    accuracy), pass@k and maj@k, on ``prompt``/``answer`` rows."""
    prompts, answers = dataset["prompt"], dataset["answer"]
    greedy = [c[0] for c in generator.generate(prompts, max_new_tokens=cfg.max_new_tokens, desc="reasoning greedy")]
    correct = accuracy(greedy, answer=answers)  # per example, for the gates; checked once
    greedy_accuracy = sum(correct) / len(correct)
    format_rate = sum(think_answer_format(greedy)) / len(greedy)
    pass_at_1 = pass_at_k = maj_at_k = float("nan")
    if cfg.num_samples > 0:
        sampled = generator.generate(
            prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, num_samples=cfg.num_samples,
            seed=seed, desc=f"reasoning sample x{cfg.num_samples}",
        )
        pass_at_1, _ = score(sampled, answers)
        pass_at_k, maj_at_k = pass_and_majority(sampled, answers)
    metrics = {
        "accuracy": greedy_accuracy,
        "greedy_accuracy": greedy_accuracy,
        "pass_at_1": pass_at_1,
        "pass_at_k": pass_at_k,
        "maj_at_k": maj_at_k,
        "format_rate": format_rate,
        "num_problems": len(prompts),
        "num_samples": cfg.num_samples,
    }
    records = [{"answer": a, "completion": c, "correct": bool(k)} for c, a, k in zip(greedy, answers, correct)]
    return SuiteResult(metrics, {"accuracy": correct}, records)
