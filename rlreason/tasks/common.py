"""What every task shares: the :class:`Task` record, the output format, answer parsing, splits, file reading.

The product's reply format is written and checked here only: a reasoning trace, then the answer,
``<think>…</think><answer>…</answer>`` (:func:`think_answer`, :func:`is_think_answer`, :func:`extract_answer`).
Checkers read a reply's answer with :func:`final_answer`, which also understands a pretrained model's own
format: its native ``<think>`` block followed by a plain-text answer, or a plain answer with no tags at all.
Tool calls are the tool-calling task's own format (``rlreason/tasks/tool_calling.py``).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rlreason.errors import MissingInput, UserError

T = TypeVar("T")

# --- the task record ---------------------------------------------------------------------------------------


@dataclass
class SuiteResult:
    """What a task's evaluation returns: summary metrics, and per-example scores the regression gates compare."""

    metrics: dict[str, float]
    # metric name -> one score per example (0/1), in dataset order, for the paired regression gates
    per_example: dict[str, list[float]] = field(default_factory=dict)
    # what the model wrote, one record per example, saved next to the metrics for inspection
    records: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Task:
    """One skill: its data, its checker, its rewards, its evaluation and the public formats it reads.

    Every entry is a plain function of the task's module; ``rlreason.tasks.TASKS`` lists the tasks, and the
    data mixer, the eval stage, ``rlreason eval score``, the console report and the reward registry iterate
    over it. ``data_cfg`` below is the whole ``data`` config (a task reads its own section, ``data.<name>``).
    """

    name: str
    # (data_cfg, seed) -> SFT rows {"prompt", "completion", "tools"}: conversational, the loss on the completion
    sft_rows: Callable[[Any, int], list[dict]]
    # (data_cfg, seed) -> training examples for RL; ``row`` turns each into a GRPO row
    grpo_examples: Callable[[Any, int], list]
    # (data_cfg, seed) -> held-out examples, disjoint from every training split
    held_out_examples: Callable[[Any, int], list]
    # example -> {"prompt", "task", <gold columns>}: what GRPO (and every reward) sees of an example
    row: Callable[[Any], dict]
    # the gold columns ``row`` adds, so a mixed dataset can give every row every column
    columns: tuple[str, ...]
    # row -> example: the inverse of ``row`` (what a reward check needs to write a correct reply for a row)
    from_row: Callable[[dict], Any]
    # (completion, example) -> bool: the one checker the rewards and the evaluation use
    check: Callable[[Any, Any], bool]
    # example -> a reply that ``check`` accepts, in the product's format
    gold_completion: Callable[[Any], str]
    # reward name -> TRL reward function; each returns None on other tasks' rows
    rewards: dict[str, Callable]
    # (completions, examples) -> SuiteResult, for completions made anywhere (``rlreason eval score``)
    score: Callable[[list, list], SuiteResult]
    # (generator, examples, eval_cfg, seed) -> SuiteResult: generate, then score
    evaluate: Callable[[Any, list, Any, int], SuiteResult]
    # (path, answers_path | None) -> examples, from the public formats the task documents
    load_public: Callable[[str, str | None], list]
    # (data_cfg, split, size, seed) -> preference pairs: an example's ``row`` with ``chosen`` and ``rejected``
    # replies, one ``check`` accepts and one it rejects, for the reward_model stage
    preference_pairs: Callable[[Any, str, int, int], list[dict]]
    # the metrics the console report shows, and the default regression gates: (metric, max_drop, higher_is_better)
    main_metrics: tuple[str, ...]
    gates: tuple[tuple[str, float, bool], ...]
    # whether replies use <think>…</think><answer>…</answer> (the format reward scores only those rows)
    think_answer_replies: bool = True


# --- conversations -----------------------------------------------------------------------------------------


def user_turn(prompt) -> list[dict[str, str]]:
    """A string becomes a one-message user turn; a list of chat messages passes through unchanged."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def assistant_turn(completion) -> list[dict[str, str]]:
    """A string becomes a one-message assistant turn; a list of chat messages passes through unchanged."""
    return [{"role": "assistant", "content": completion}] if isinstance(completion, str) else completion


def completion_text(completion) -> str:
    """The text of a completion, whether TRL passes it as a string or as a list of chat messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content", "") for message in completion)


def request_text(prompt) -> str:
    """What the user asked: the prompt itself, or its user messages joined."""
    return prompt if isinstance(prompt, str) else " ".join(m["content"] for m in prompt if m["role"] == "user")


# --- the <think>/<answer> format ---------------------------------------------------------------------------

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_ANSWER = re.compile(
    r"^\s*<think>(?:(?!<think>).)*?</think>\s*<answer>(?:(?!<answer>).)+?</answer>\s*$", re.DOTALL
)


def think_answer(thought: str, answer) -> str:
    """A reply in the product's format."""
    return f"<think>{thought}</think><answer>{answer}</answer>"


def is_think_answer(text: str) -> bool:
    """Exactly one reasoning block, then one non-empty answer, and nothing else."""
    return bool(_THINK_ANSWER.match(text))


def extract_answer(text: str) -> str | None:
    """The content of the last ``<answer>`` tag, or ``None`` when there is none."""
    found = ANSWER.findall(text)
    return found[-1].strip() if found else None


def final_answer(text: str) -> str | None:
    """What a reply answers, in the product's format or a model's own.

    The last ``<answer>`` tag's content; else what follows the last ``</think>`` (models with native reasoning
    tags, such as Qwen3 and the R1 distills, answer in plain text after it; templates that open the block in
    the generation prompt leave only the closing tag in the reply); else the whole reply when it has no
    reasoning tags at all. ``None`` when nothing is left: an empty answer, or a reply cut off while thinking.
    """
    tagged = extract_answer(text)
    if tagged is not None:
        return tagged or None
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        return None
    return text.strip() or None


# --- rewards -----------------------------------------------------------------------------------------------


def task_reward(task: str, columns: tuple[str, ...] = ()):
    """Make ``score(completion, *column_values) -> float | None`` a TRL reward for one task's rows.

    The reward takes TRL's signature, ``fn(prompts, completions, **kwargs) -> list[float | None]``, reads the
    named dataset ``columns`` from ``kwargs``, and returns ``None`` for rows whose ``task`` column names another
    task, so in a mixed GRPO batch TRL leaves those rows to the other rewards. Without a ``task`` column every
    row counts as this task's (a plain TRL dataset).
    """

    def decorate(score: Callable) -> Callable:
        @functools.wraps(score)
        def reward(completions, **kwargs):
            count = len(completions)
            kinds = kwargs.pop("task", None) or [task] * count
            values = [kwargs.get(column) or [None] * count for column in columns]
            scores = []
            for completion, kind, *row in zip(completions, kinds, *values):
                value = score(completion, *row) if kind == task else None
                scores.append(None if value is None else float(value))
            return scores

        return reward

    return decorate


def preference_pair(row: dict, chosen: str, rejected: str) -> dict:
    """One preference pair in TRL's conversational format: an example's GRPO row (prompt, task, gold columns,
    tools) with a preferred and a dispreferred reply."""
    return {**row, "chosen": assistant_turn(chosen), "rejected": assistant_turn(rejected)}


# --- splits ------------------------------------------------------------------------------------------------


def split_of(signature: str, test_fraction: float) -> str:
    """Deterministic split of what an example asks for (its signature): the same one always lands in the same
    split, so a computation or a call never sits in both train and test, however it is worded."""
    bucket = int.from_bytes(hashlib.sha256(signature.encode()).digest()[:8], "big") / 2**64
    return "test" if bucket < test_fraction else "train"


def draw(
    sample: Callable[[], tuple[T, str, str]], split: str, size: int, test_fraction: float, key: str, advice: str
) -> list[T]:
    """``size`` distinct items of ``split`` from ``sample() -> (item, signature, identity)``.

    Rejects items of the other split and repeated identities, so both splits come from the same
    distribution; when the task (config ``key``) has too few distinct items, fails with ``advice``.
    """
    items: dict[str, T] = {}
    attempts = 0
    while len(items) < size:
        attempts += 1
        if attempts > 200 * size + 10_000:
            raise UserError(f"{key}: only {len(items)} distinct {split} examples found for size={size}; {advice}")
        item, signature, identity = sample()
        if identity not in items and split_of(signature, test_fraction) == split:
            items[identity] = item
    return list(items.values())


# --- files -------------------------------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, object)`` for every non-blank line; a bad line is reported with its file and line.

    A file that is one JSON array (as some public sets ship) is read as its elements, numbered from 1."""
    if Path(path).suffix in (".csv", ".parquet", ".tsv"):
        raise UserError(f"{path}: a {Path(path).suffix} file where JSON lines are expected; convert it to .jsonl")
    if not Path(path).is_file():
        raise MissingInput(f"{path}: no such file")
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            return list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as error:
            raise UserError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    rows = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((line_no, json.loads(line)))
        except json.JSONDecodeError as error:
            raise UserError(f"{path}:{line_no}: invalid JSON ({error.msg})") from error
    return rows


def read_csv(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, row)`` for every data row of a csv with a header line."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [(line_no, row) for line_no, row in enumerate(csv.DictReader(handle), 2)]


def require(row: dict, keys: tuple[str, ...], where: str) -> None:
    """Fail naming ``where`` (file:line) when ``row`` lacks any of ``keys``."""
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(f"{where}: missing field(s) {missing}; found {sorted(row)}")


def row_location(origin: str, index: int) -> str:
    """Where row ``index`` of a dataset read from ``origin`` is: ``file:line`` for a .jsonl file, else the row."""
    if str(origin).endswith(".jsonl") and Path(origin).is_file():
        lines = [n for n, line in enumerate(Path(origin).read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
        if index < len(lines):
            return f"{origin}:{lines[index]}"
    return f"{origin}: row {index + 1}"


def require_values(dataset, columns: tuple[str, ...], origin: str) -> None:
    """Fail at the first row of ``dataset`` whose ``columns`` are missing or empty, naming file and line."""
    for column in columns:
        for index, value in enumerate(dataset[column]):
            if value is None or (isinstance(value, str) and not value.strip()):
                raise UserError(f"{row_location(origin, index)}: no value for {column!r}; every row needs one")


def limited(examples: list, limit: int) -> list:
    """The first ``limit`` examples; 0 keeps them all."""
    return examples[:limit] if limit > 0 else examples


def _has_content(file: Path) -> bool:
    """Whether a text file has a non-blank line (reading up to the first one, not the whole file)."""
    with open(file, encoding="utf-8", errors="replace") as handle:
        return any(line.strip() for line in handle)


LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_file(path: str | None, key: str):
    """A local ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv`` file as a ``datasets.Dataset``
    (``datasets.load_dataset``); ``key`` is the config key or file role that named it, for the error."""
    from datasets import load_dataset

    allowed = ", ".join(LOADERS)
    if path is None:
        raise UserError(f"{key}: not set; name a {allowed} file")
    file = Path(path)
    if not file.is_file():
        raise MissingInput(f"{key}={path}: no such file")
    builder = LOADERS.get(file.suffix)
    if builder is None:
        raise UserError(f"{key}={path}: unsupported extension {file.suffix!r}; allowed: {allowed}")
    if builder != "parquet" and not _has_content(file):
        raise UserError(f"{key}={path}: the file is empty")
    try:
        return load_dataset(builder, data_files=str(file), split="train")
    except Exception as error:  # datasets wraps parser errors without the line; find it ourselves
        if builder == "json":
            read_jsonl(file)  # raises naming file:line when a line is not JSON
        raise UserError(f"{key}={path}: cannot be read as {file.suffix} ({type(error).__name__}: {error})") from error
