"""Synthetic multi-step arithmetic word problems: the embedded reasoning task.

Each problem is a short story ("Mia has 7 pens. She buys 5 more. She gives away 3.") whose answer takes
one arithmetic step per sentence. The chain-of-thought target writes each step out
(``<think>7+5=12 12-3=9</think><answer>9</answer>``) so the cold-start SFT has something to imitate and
GRPO has a verifiable answer to reward.

The cold-start demonstrations come from a deliberately imperfect *teacher*: on problems of at least
``shortcut_min_steps`` steps it stops one step early with probability ``shortcut_rate`` and answers the
intermediate value, as distilled chain-of-thought data often cuts corners. Supervised warmup imitates the
shortcut; a reward on the final answer can teach the policy to finish every problem. With
``shortcut_rate=0`` the demonstrations are perfect and SFT alone saturates the task.

Splits are decided by a hash of the problem's arithmetic (start value and operations), not of its wording,
so the same computation phrased differently can never sit in both train and test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rlreason.data.splits import draw

NAMES = ("Mia", "Tom", "Ana", "Leo", "Sam", "Ivy", "Max", "Zoe")
ITEMS = ("apples", "pens", "coins", "books", "cards", "stamps")
# Each operation has the sentence that tells it; `{n}` is the operand.
OPERATIONS = {
    "+": ("buys {n} more", "finds {n} more", "gets {n} more"),
    "-": ("gives away {n}", "loses {n}", "sells {n}"),
    "*": ("makes it {n} times as many",),
}


@dataclass
class ArithmeticConfig:
    """Difficulty knobs and split sizes of the synthetic task (``conf/data/arithmetic.yaml``)."""

    min_steps: int = 2
    max_steps: int = 2
    max_start: int = 20
    max_operand: int = 9
    max_value: int = 99
    ops: list[str] = field(default_factory=lambda: ["+", "-"])
    test_fraction: float = 0.1
    shortcut_rate: float = 0.0
    shortcut_min_steps: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.ops) - set(OPERATIONS))
        if unknown or not self.ops:
            raise ValueError(f"data.arithmetic.ops: unknown or empty {unknown or self.ops}; allowed: {sorted(OPERATIONS)}")
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError("data.arithmetic: need 1 <= min_steps <= max_steps")
        if not 0 < self.test_fraction < 1:
            raise ValueError("data.arithmetic.test_fraction: must be between 0 and 1")
        if not 0 <= self.shortcut_rate <= 1:
            raise ValueError("data.arithmetic.shortcut_rate: must be between 0 and 1")


@dataclass(frozen=True)
class Problem:
    question: str
    steps: tuple[str, ...]
    values: tuple[int, ...]
    signature: str

    @property
    def answer(self) -> int:
        return self.values[-1]

    @property
    def completion(self) -> str:
        """The correct target, in the product's output format."""
        return format_completion(self.steps, self.answer)


def format_completion(steps, answer) -> str:
    return f"<think>{' '.join(steps)}</think><answer>{answer}</answer>"


def teacher_completion(problem: Problem, rng: random.Random, cfg: "ArithmeticConfig") -> str:
    """The cold-start teacher's demonstration: correct, or (at ``shortcut_rate``) one step short."""
    if len(problem.steps) >= cfg.shortcut_min_steps and rng.random() < cfg.shortcut_rate:
        return format_completion(problem.steps[:-1], problem.values[-2])
    return problem.completion


def sample_problem(rng: random.Random, cfg: ArithmeticConfig) -> Problem:
    """One problem whose intermediate values stay within ``[0, max_value]``."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = rng.randint(1, cfg.max_start)
    sentences = [f"{name} has {value} {item}."]
    steps, values, signature = [], [value], [str(value)]
    for _ in range(rng.randint(cfg.min_steps, cfg.max_steps)):
        op, n = _valid_step(rng, cfg, value)
        result = value + n if op == "+" else value - n if op == "-" else value * n
        sentences.append(f"{name} {rng.choice(OPERATIONS[op]).format(n=n)}.")
        steps.append(f"{value}{op}{n}={result}")
        signature.append(f"{op}{n}")
        values.append(result)
        value = result
    sentences.append(f"How many {item} now?")
    return Problem(" ".join(sentences), tuple(steps), tuple(values), " ".join(signature))


def _valid_step(rng: random.Random, cfg: ArithmeticConfig, value: int) -> tuple[str, int]:
    choices = []
    for op in cfg.ops:
        for n in range(2 if op == "*" else 1, (4 if op == "*" else cfg.max_operand) + 1):
            result = value + n if op == "+" else value - n if op == "-" else value * n
            if 0 <= result <= cfg.max_value:
                choices.append((op, n))
    return rng.choice(choices)


def generate(cfg: ArithmeticConfig, split: str, size: int, seed: int) -> list[Problem]:
    """``size`` distinct problems of ``split`` ("train" or "test"), reproducible from ``seed``.

    Sampling rejects problems of the other split and repeats, so both splits come from the same
    distribution and never share an arithmetic signature.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rng = random.Random(f"{seed}-{split}")

    def sample():
        problem = sample_problem(rng, cfg)
        return problem, problem.signature, problem.signature

    advice = "raise data.max_steps / data.max_start / data.max_operand or lower the split size"
    return draw(sample, split, size, cfg.test_fraction, "data", advice)
