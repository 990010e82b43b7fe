"""Reasoning eval: held-out accuracy, greedy and sampled (pass@1 averaged over k samples)."""

from __future__ import annotations

from dataclasses import dataclass

from rlreason.evals.generation import generate
from rlreason.reward.accuracy import is_correct
from rlreason.reward.format import think_answer_format
from rlreason.reward.parsing import extract_answer


@dataclass
class ReasoningScores:
    greedy_accuracy: float
    pass_at_1: float
    format_rate: float
    num_problems: int
    num_samples: int


def score(completions: list[list[str]], answers: list[str]) -> tuple[float, float]:
    """Mean correctness over all completions, and the share that is well-formatted."""
    flat = [(c, a) for cs, a in zip(completions, answers) for c in cs]
    correct = sum(is_correct(extract_answer(c), a) for c, a in flat)
    formatted = sum(think_answer_format([c for c, _ in flat]))
    return correct / len(flat), formatted / len(flat)


def evaluate(model, tokenizer, dataset, cfg, seed: int) -> ReasoningScores:
    """Greedy accuracy and sampled pass@1 on ``dataset`` (``prompt``, ``answer`` rows)."""
    prompts, answers = dataset["prompt"], dataset["answer"]
    common = {"max_new_tokens": cfg.max_new_tokens, "batch_size": cfg.batch_size}
    greedy = generate(model, tokenizer, prompts, **common, desc="greedy")
    greedy_accuracy, format_rate = score(greedy, answers)
    pass_at_1 = float("nan")
    if cfg.num_samples > 0:
        sampled = generate(
            model, tokenizer, prompts, **common, temperature=cfg.temperature, num_samples=cfg.num_samples,
            seed=seed, desc=f"sample x{cfg.num_samples}",
        )
        pass_at_1, _ = score(sampled, answers)
    return ReasoningScores(greedy_accuracy, pass_at_1, format_rate, len(prompts), cfg.num_samples)
