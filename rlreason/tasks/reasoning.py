"""Task **reasoning**: verifiable math answers, the skill GRPO trains.

Data:
- synthetic (``data=arithmetic``, the default): short stories whose answer takes one arithmetic step per
  sentence ("Mia has 7 pens. Mia buys 5 more. Mia gives away 3. How many pens now?"); the target writes each
  step out (``<think>7+5=12 12-3=9</think><answer>9</answer>``). The cold-start demonstrations come from a
  deliberately imperfect *teacher*: on problems of at least ``shortcut_min_steps`` steps it stops one step
  early with probability ``shortcut_rate`` and answers the intermediate value, as distilled chain-of-thought
  data often cuts corners. SFT imitates the shortcut; a reward on the final answer can teach the policy to
  finish every problem. With ``shortcut_rate=0`` the demonstrations are perfect and SFT alone saturates the
  task. Splits are decided by a hash of the problem's arithmetic (start value and operations), not of its
  wording, so the same computation can never sit in both train and test.
- the user's own (``data=file`` / ``data=hub``): ``prompt`` and ``answer`` columns (``completion`` for SFT).
  A GSM8K file (``data.prompt_column=question``, answers ``"worked solution\n#### N"``) needs no
  ``completion`` column: the gold answer is N and SFT learns ``<think>worked solution</think><answer>N</answer>``.

Checker: the reply's answer equals the gold answer as math-verify sees it (``0.5``, ``1/2`` and ``\\frac{1}{2}``
match). The answer is the ``<answer>`` tag's content, or, in a pretrained model's own format, the text after
its ``</think>`` or its whole reply (``common.final_answer``), from which math-verify takes a ``\\boxed{}``
answer or the last number. Rewards: ``accuracy``. Evaluation: greedy accuracy, format rate, and over
``eval.num_samples`` samples pass@1 (mean accuracy), pass@k and maj@k.

Public formats (``load_public``), told apart by their fields: GSM8K jsonl (``question``, ``answer`` ending in
``#### N``); MATH, AIME and AMC jsonl as the common math-eval harnesses ship them (``problem`` and/or
``question``, ``answer`` a string such as ``"025"``, an int or a float such as ``27.0``); or ``prompt``/``answer``.
"""

from __future__ import annotations

import functools
import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from rlreason.errors import UserError
from rlreason.tasks.common import (
    SuiteResult,
    Task,
    assistant_turn,
    completion_text,
    draw,
    final_answer,
    is_think_answer,
    load_file,
    preference_pair,
    read_jsonl,
    require,
    require_values,
    task_reward,
    think_answer,
    user_turn,
)

NAME = "reasoning"
NAMES = ("Mia", "Tom", "Ana", "Leo", "Sam", "Ivy", "Max", "Zoe")
ITEMS = ("apples", "pens", "coins", "books", "cards", "stamps")
# Each operation has the sentences that tell it; `{n}` is the operand.
OPERATIONS = {
    "+": ("buys {n} more", "finds {n} more", "gets {n} more"),
    "-": ("gives away {n}", "loses {n}", "sells {n}"),
    "*": ("makes it {n} times as many",),
}


@dataclass
class ReasoningConfig:
    """``data.reasoning``: rows per stage, and the difficulty of the synthetic problems.

    With the synthetic source the sizes are exact; with the user's data they keep the first N rows (0: all).
    """

    sft_size: int = 4000  # cold-start demonstrations (from the imperfect teacher)
    grpo_size: int = 4000  # RL prompts, which need only a gold answer
    test_size: int = 300
    min_steps: int = 2
    max_steps: int = 3
    max_start: int = 20
    max_operand: int = 9
    max_value: int = 99
    ops: list[str] = field(default_factory=lambda: ["+", "-"])
    test_fraction: float = 0.1
    # The cold-start teacher stops one step early on 3-step problems 60% of the time; SFT learns the shortcut,
    # GRPO's answer reward has to unlearn it. 0 gives perfect demonstrations.
    shortcut_rate: float = 0.6
    shortcut_min_steps: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.ops) - set(OPERATIONS))
        if unknown or not self.ops:
            raise UserError(
                f"data.reasoning.ops: unknown or empty {unknown or self.ops}; allowed: {sorted(OPERATIONS)}"
            )
        if not 1 <= self.min_steps <= self.max_steps:
            raise UserError("data.reasoning: need 1 <= min_steps <= max_steps")
        if not 0 < self.test_fraction < 1:
            raise UserError("data.reasoning.test_fraction: must be between 0 and 1")
        if not 0 <= self.shortcut_rate <= 1:
            raise UserError("data.reasoning.shortcut_rate: must be between 0 and 1")


@dataclass
class ReasoningExample:
    prompt: list[dict]
    answer: str


# --- synthetic problems ------------------------------------------------------------------------------------


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
        return think_answer(" ".join(self.steps), self.answer)


def teacher_completion(problem: Problem, rng: random.Random, cfg: ReasoningConfig) -> str:
    """The cold-start teacher's demonstration: correct, or (at ``shortcut_rate``) one step short."""
    if len(problem.steps) >= cfg.shortcut_min_steps and rng.random() < cfg.shortcut_rate:
        return think_answer(" ".join(problem.steps[:-1]), problem.values[-2])
    return problem.completion


def sample_problem(rng: random.Random, cfg: ReasoningConfig) -> Problem:
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


def _valid_step(rng: random.Random, cfg: ReasoningConfig, value: int) -> tuple[str, int]:
    choices = []
    for op in cfg.ops:
        for n in range(2 if op == "*" else 1, (4 if op == "*" else cfg.max_operand) + 1):
            result = value + n if op == "+" else value - n if op == "-" else value * n
            if 0 <= result <= cfg.max_value:
                choices.append((op, n))
    return rng.choice(choices)


def generate(cfg: ReasoningConfig, split: str, size: int, seed: int) -> list[Problem]:
    """``size`` distinct problems of ``split`` ("train" or "test"), reproducible from ``seed``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rng = random.Random(f"{seed}-{split}")

    def sample():
        problem = sample_problem(rng, cfg)
        return problem, problem.signature, problem.signature

    advice = "raise data.reasoning.max_steps / max_start / max_operand or lower the split size"
    return draw(sample, split, size, cfg.test_fraction, "data.reasoning", advice)


def gsm8k_rows(cfg: ReasoningConfig, split: str, size: int, seed: int) -> list[dict]:
    """``size`` synthetic problems of ``split`` as GSM8K rows: ``question``, and an ``answer`` that works the problem
    out with GSM8K's calculator annotations and ends in ``#### N``: a file in the public format, made here."""
    rows = []
    for problem in generate(cfg, split, size, seed):
        worked = " ".join(f"{step.split('=')[0]}=<<{step}>>{step.split('=')[1]}." for step in problem.steps)
        rows.append({"question": problem.question, "answer": f"{worked}\n#### {problem.answer}"})
    return rows


# --- the user's data (data=file / data=hub) ----------------------------------------------------------------


def _synthetic(data_cfg) -> bool:
    return data_cfg.source.value == "arithmetic"


def _user_split(data_cfg, split: str):
    """The user's train or test split as a ``datasets.Dataset``, its prompt and answer columns checked."""
    from datasets import load_dataset

    if data_cfg.source.value == "file":
        path = data_cfg.train_file if split == "train" else data_cfg.test_file
        dataset, origin = load_file(path, f"data.{split}_file"), path
    else:
        name = data_cfg.train_split if split == "train" else data_cfg.test_split
        dataset, origin = load_dataset(data_cfg.path, split=name), f"{data_cfg.path}[{name}]"
    missing = [c for c in (data_cfg.prompt_column, data_cfg.answer_column) if c not in dataset.column_names]
    if missing:
        raise UserError(
            f"{origin}: missing column(s) {missing}; found {dataset.column_names} "
            "(set data.prompt_column / data.answer_column)"
        )
    require_values(dataset, (data_cfg.prompt_column, data_cfg.answer_column), origin)
    return dataset


def _first(dataset, size: int):
    """The first ``size`` rows of a user dataset; 0 keeps them all."""
    return dataset.select(range(min(size, dataset.num_rows))) if size > 0 else dataset


def gold_answer(value) -> str:
    """A gold answer as text, the way public sets store it: ``27.0`` and ``"025"`` mean 27."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return str(int(text)) if re.fullmatch(r"[+-]?\d+", text) else text


def gsm8k_solution(answer) -> tuple[str, str] | None:
    """(worked solution, final answer) of a GSM8K-style answer (``"...steps...\n#### 42"``); None for another.
    GSM8K's calculator annotations (``<<6*7=42>>``) are dropped from the solution."""
    if not isinstance(answer, str) or "####" not in answer:
        return None
    solution, final = answer.rsplit("####", 1)
    return re.sub(r"<<[^>]*>>", "", solution).strip(), final.strip().replace(",", "")


def user_gold_answer(value) -> str:
    """The gold answer of a user row: a GSM8K answer's number after ``####``, else :func:`gold_answer`."""
    solved = gsm8k_solution(value)
    return gold_answer(solved[1] if solved else value)


def _user_examples(data_cfg, split: str, size: int) -> list[ReasoningExample]:
    dataset = _first(_user_split(data_cfg, split), size)
    return [
        ReasoningExample(user_turn(p), user_gold_answer(a))
        for p, a in zip(dataset[data_cfg.prompt_column], dataset[data_cfg.answer_column])
    ]


# --- the task's data ---------------------------------------------------------------------------------------


def sft_rows(data_cfg, seed: int) -> list[dict]:
    """Chain-of-thought demonstrations: the teacher's, or the user's ``completion`` column."""
    cfg = data_cfg.reasoning
    if _synthetic(data_cfg):
        teacher = random.Random(f"{seed}-teacher")
        return [
            {
                "prompt": user_turn(p.question),
                "completion": assistant_turn(teacher_completion(p, teacher, cfg)),
                "tools": None,
            }
            for p in generate(cfg, "train", cfg.sft_size, seed)
        ]
    dataset = _first(_user_split(data_cfg, "train"), cfg.sft_size)
    if data_cfg.completion_column not in dataset.column_names:
        solved = [gsm8k_solution(a) for a in dataset[data_cfg.answer_column]]
        if all(solved):  # GSM8K: its worked solutions are the demonstrations
            return [
                {"prompt": user_turn(p), "completion": assistant_turn(think_answer(*s)), "tools": None}
                for p, s in zip(dataset[data_cfg.prompt_column], solved)
            ]
        raise UserError(
            f"SFT needs a {data_cfg.completion_column!r} column (data.completion_column), or GSM8K-style "
            "answers ('worked solution\\n#### N') in every row"
        )
    require_values(dataset, (data_cfg.completion_column,), data_cfg.train_file or data_cfg.path)
    return [
        {"prompt": user_turn(prompt), "completion": assistant_turn(completion), "tools": None}
        for prompt, completion in zip(dataset[data_cfg.prompt_column], dataset[data_cfg.completion_column])
    ]


def grpo_examples(data_cfg, seed: int) -> list[ReasoningExample]:
    """RL prompts with gold answers only: no chain of thought is needed, which is why RL scales past SFT data."""
    cfg = data_cfg.reasoning
    if _synthetic(data_cfg):
        return [
            ReasoningExample(user_turn(p.question), str(p.answer)) for p in generate(cfg, "train", cfg.grpo_size, seed)
        ]
    return _user_examples(data_cfg, "train", cfg.grpo_size)


def held_out_examples(data_cfg, seed: int) -> list[ReasoningExample]:
    """Held-out problems; for the synthetic task, disjoint from every training split by construction."""
    cfg = data_cfg.reasoning
    if _synthetic(data_cfg):
        return [
            ReasoningExample(user_turn(p.question), str(p.answer)) for p in generate(cfg, "test", cfg.test_size, seed)
        ]
    return _user_examples(data_cfg, "test", cfg.test_size)


def preference_pairs(data_cfg, split: str, size: int, seed: int) -> list[dict]:
    """A finished chain over a shortcut (one step short) or over a slip in the last step (a wrong result)."""
    rng = random.Random(f"{seed}-reasoning-pairs-{split}")
    pairs = []
    for problem in generate(data_cfg.reasoning, split, size, seed):
        if len(problem.steps) > 1 and rng.random() < 0.5:
            rejected = think_answer(" ".join(problem.steps[:-1]), problem.values[-2])
        else:
            rejected = think_answer(" ".join(problem.steps), problem.answer + rng.choice([-2, -1, 1, 2]))
        pairs.append(
            preference_pair(
                row(ReasoningExample(user_turn(problem.question), str(problem.answer))), problem.completion, rejected
            )
        )
    return pairs


def row(example: ReasoningExample) -> dict:
    return {"prompt": example.prompt, "task": NAME, "answer": example.answer}


def from_row(row: dict) -> ReasoningExample:
    return ReasoningExample(row["prompt"], row["answer"])


# --- checker and reward ------------------------------------------------------------------------------------

# Timeouts are disabled on purpose (see is_correct); math-verify would warn about it on every call.
logging.getLogger("math_verify").setLevel(logging.ERROR)


@functools.cache
def _math_verify():
    """math-verify's parse, verify and extraction settings, imported at the first check (it loads sympy, which
    the config schema, importing this module for its ``data.reasoning`` section, does not need)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    return parse, verify, [ExprExtractionConfig(), LatexExtractionConfig()]


def is_correct(prediction: str | None, gold: str) -> bool:
    """True when ``prediction`` is mathematically equal to ``gold`` (exact string match as a fallback)."""
    if prediction is None or not prediction.strip():
        return False
    if prediction.strip() == gold.strip():
        return True
    parse, verify, configs = _math_verify()
    # math-verify's timeouts use signal.alarm, which only works on the main thread; None disables them.
    gold_parsed = parse(gold, extraction_config=configs, parsing_timeout=None)
    pred_parsed = parse(prediction, extraction_config=configs, parsing_timeout=None)
    return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=None))


def check(completion, example: ReasoningExample) -> bool:
    return is_correct(final_answer(completion_text(completion)), example.answer)


def gold_completion(example: ReasoningExample) -> str:
    return think_answer("", example.answer)


@task_reward(NAME, ("answer",))
def accuracy(completion, answer) -> float | None:
    """1.0 when a completion's answer (``final_answer``) equals the gold ``answer`` column, else 0.0 (None without
    one)."""
    return None if answer is None else float(is_correct(final_answer(completion_text(completion)), str(answer)))


# --- evaluation --------------------------------------------------------------------------------------------


def majority_answer(completions: list) -> str | None:
    """The most frequent ``<answer>`` among a problem's samples (the first seen wins a tie); None if none."""
    found = [final_answer(completion_text(c)) for c in completions]
    votes = Counter(a for a in found if a)
    return max(votes, key=lambda a: (votes[a], -found.index(a))) if votes else None


def sampled_metrics(samples: list[list[str]], examples: list[ReasoningExample]) -> dict[str, float]:
    """pass@1 (mean correctness over all samples), pass@k (any of a problem's samples correct) and maj@k (the
    majority answer correct)."""
    correct = [[check(s, e) for s in group] for group, e in zip(samples, examples, strict=True)]
    majority = [is_correct(majority_answer(group), e.answer) for group, e in zip(samples, examples)]
    return {
        "pass_at_1": sum(map(sum, correct)) / sum(map(len, correct)),
        "pass_at_k": sum(map(any, correct)) / len(correct),
        "maj_at_k": sum(majority) / len(majority),
    }


def score(completions: list, examples: list[ReasoningExample]) -> SuiteResult:
    """Accuracy, format rate and answered rate of one completion per example."""
    correct = [float(check(c, e)) for c, e in zip(completions, examples, strict=True)]
    formatted = [is_think_answer(completion_text(c)) for c in completions]
    answered = [final_answer(completion_text(c)) is not None for c in completions]
    metrics = {
        "accuracy": sum(correct) / max(len(correct), 1),
        "format_rate": sum(formatted) / max(len(formatted), 1),
        # replies with an answer in any format checked (a pretrained model's own, before SFT teaches the tags)
        "answered_rate": sum(answered) / max(len(answered), 1),
        "num_examples": len(examples),
    }
    records = [
        {"answer": e.answer, "completion": c, "correct": bool(k)} for c, e, k in zip(completions, examples, correct)
    ]
    return SuiteResult(metrics, {"accuracy": correct}, records)


def evaluate(generator, examples: list[ReasoningExample], cfg, seed: int) -> SuiteResult:
    """Greedy accuracy and format rate, and over ``eval.num_samples`` samples pass@1, pass@k and maj@k (left
    out with ``num_samples=0``)."""
    prompts = [e.prompt for e in examples]
    greedy = [c[0] for c in generator.generate(prompts, max_new_tokens=cfg.max_new_tokens, desc="reasoning greedy")]
    result = score(greedy, examples)
    sampled = {}
    if cfg.num_samples > 0:
        samples = generator.generate(
            prompts,
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            num_samples=cfg.num_samples,
            seed=seed,
            desc=f"reasoning sample x{cfg.num_samples}",
        )
        sampled = sampled_metrics(samples, examples)
    result.metrics = {
        "accuracy": result.metrics["accuracy"],
        "greedy_accuracy": result.metrics["accuracy"],
        **sampled,
        "format_rate": result.metrics["format_rate"],
        "answered_rate": result.metrics["answered_rate"],
        "num_problems": len(examples),
        "num_samples": cfg.num_samples,
    }
    return result


# --- public formats ----------------------------------------------------------------------------------------


def load_public(path: str, answers: str | None = None) -> list[ReasoningExample]:
    """GSM8K, MATH / AIME / AMC, or prompt/answer jsonl (see the module docstring), told apart by their fields."""
    examples = []
    for line_no, record in read_jsonl(path):
        where = f"{path}:{line_no}"
        if not isinstance(record, dict):
            raise UserError(f"{where}: expected a JSON object")
        question = next((record[k] for k in ("problem", "question", "prompt") if k in record), None)
        if question is None:
            raise UserError(
                f"{where}: no question; expected a 'problem', 'question' or 'prompt' field, found {sorted(record)}"
            )
        require(record, ("answer",), where)
        answer = record["answer"]
        if solved := gsm8k_solution(answer):  # GSM8K: the gold number follows '####'
            answer = solved[1]
        elif "question" in record and "problem" not in record and isinstance(answer, str) and len(answer.split()) > 3:
            raise UserError(f"{where}: GSM8K-style answer has no '#### <number>' line")
        examples.append(ReasoningExample(user_turn(question), gold_answer(answer)))
    return examples


TASK = Task(
    name=NAME,
    sft_rows=sft_rows,
    grpo_examples=grpo_examples,
    held_out_examples=held_out_examples,
    row=row,
    from_row=from_row,
    columns=("answer",),
    check=check,
    gold_completion=gold_completion,
    preference_pairs=preference_pairs,
    rewards={"accuracy": accuracy},
    score=score,
    evaluate=evaluate,
    load_public=load_public,
    main_metrics=("accuracy", "pass_at_1", "format_rate"),
    gates=(("accuracy", 0.05, True),),
)
