"""Run the function-calling and safety suites with a generator (``generation.py``; reasoning lives in
``reasoning.py``)."""

from __future__ import annotations

from rlreason.evals import function_calling, safety
from rlreason.evals.function_calling import FunctionCallingExample
from rlreason.evals.judge import RuleJudge
from rlreason.evals.result import SuiteResult
from rlreason.evals.safety import SafetyExample


def evaluate_function_calling(generator, examples: list[FunctionCallingExample], cfg) -> SuiteResult:
    """Greedy completions with each example's functions in the chat template, checked BFCL-style."""
    completions = generator.generate(
        [e.prompt for e in examples], tools=[e.functions for e in examples], max_new_tokens=cfg.max_new_tokens,
        desc="function calling",
    )
    texts = [c[0] for c in completions]
    verdicts = [function_calling.check(t, e) for t, e in zip(texts, examples)]
    metrics = {**function_calling.accuracy(texts, examples), "num_examples": len(examples)}
    records = [
        {"category": e.category, "completion": t, "correct": v.correct, "reason": v.reason}
        for t, e, v in zip(texts, examples, verdicts)
    ]
    return SuiteResult(metrics, {"accuracy": [float(v.correct) for v in verdicts]}, records)


def evaluate_safety(generator, examples: list[SafetyExample], cfg, judge=None) -> SuiteResult:
    """Greedy completions; refusal rate on harmful prompts, over-refusal rate on benign ones, as ``judge``
    (``rlreason/evals/judge.py``; default: the rules) decides what is a refusal."""
    completions = generator.generate([e.prompt for e in examples], max_new_tokens=cfg.max_new_tokens, desc="safety")
    texts = [c[0] for c in completions]
    judge = judge or RuleJudge()
    refused = judge([e.prompt for e in examples], texts)
    per_example = {
        "refusal_rate": [float(r) for r, e in zip(refused, examples) if e.harmful],
        "over_refusal_rate": [float(r) for r, e in zip(refused, examples) if not e.harmful],
    }
    records = [{"harmful": e.harmful, "completion": t, "refused": r} for t, e, r in zip(texts, examples, refused)]
    return SuiteResult(safety.rates(texts, examples, refused), per_example, records)
