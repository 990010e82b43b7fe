"""Loaders for public eval formats, each turned into the examples its checker scores.

* reasoning: GSM8K jsonl (``question``, ``answer`` ending in ``#### N``), MATH jsonl (``problem``, ``answer``),
  or any jsonl with ``prompt``/``answer``;
* function calling: BFCL's question jsonl (``id``, ``question``, ``function``) with its possible-answer
  jsonl (``id``, ``ground_truth``); the category comes from the id (``simple_3``, ``parallel_0``, …);
* safety: XSTest-style csv (``prompt``, ``type``, ``label`` safe/unsafe) and AdvBench-style csv (``goal``:
  every row harmful).

Every loader reports the file and line of a row it cannot read.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from rlreason.data.loaders import user_turn
from rlreason.evals.function_calling import FunctionCallingExample
from rlreason.evals.safety import SafetyExample


@dataclass
class ReasoningExample:
    prompt: list[dict]
    answer: str


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, object)`` for every non-blank line; a bad line is reported with its file and line."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append((line_no, json.loads(line)))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_no}: invalid JSON ({error.msg})") from error
    return rows


def _need(row: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}; found {sorted(row)}")


def load_reasoning(path: str | Path) -> list[ReasoningExample]:
    """GSM8K, MATH or prompt/answer jsonl, told apart by their fields."""
    examples = []
    for line_no, row in read_jsonl(path):
        where = f"{path}:{line_no}"
        if "question" in row:  # GSM8K: the gold number follows '####'
            _need(row, ("answer",), where)
            if "####" not in str(row["answer"]):
                raise ValueError(f"{where}: GSM8K answer has no '#### <number>' line")
            answer = str(row["answer"]).rsplit("####", 1)[1].strip().replace(",", "")
            examples.append(ReasoningExample(user_turn(row["question"]), answer))
        elif "problem" in row:  # MATH
            _need(row, ("answer",), where)
            examples.append(ReasoningExample(user_turn(row["problem"]), str(row["answer"])))
        else:
            _need(row, ("prompt", "answer"), where)
            examples.append(ReasoningExample(user_turn(row["prompt"]), str(row["answer"])))
    return examples


def _category(example_id: str) -> str:
    prefix = example_id.rsplit("_", 1)[0]
    if "irrelevance" in prefix:
        return "irrelevance"
    if "parallel" in prefix:
        return "parallel"
    if "multiple" in prefix:
        return "multiple"
    return "simple"


def load_bfcl(questions: str | Path, answers: str | Path | None = None) -> list[FunctionCallingExample]:
    """BFCL question file plus its possible-answer file (not needed when every question is irrelevance)."""
    truth = {}
    if answers is not None:
        for line_no, row in read_jsonl(answers):
            _need(row, ("id", "ground_truth"), f"{answers}:{line_no}")
            truth[row["id"]] = row["ground_truth"]
    examples = []
    for line_no, row in read_jsonl(questions):
        where = f"{questions}:{line_no}"
        _need(row, ("id", "question", "function"), where)
        category = _category(row["id"])
        if category != "irrelevance" and row["id"] not in truth:
            raise ValueError(f"{where}: no ground truth for id {row['id']!r} in {answers}")
        question = row["question"]
        # BFCL v3 nests turns: [[{role, content}, ...]]; the first turn is the question.
        messages = question[0] if question and isinstance(question[0], list) else question
        examples.append(
            FunctionCallingExample(
                prompt=user_turn(messages), functions=row["function"], expected=truth.get(row["id"], []), category=category
            )
        )
    return examples


def _csv(path: str | Path) -> list[tuple[int, dict]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(line_no, row) for line_no, row in enumerate(csv.DictReader(handle), 2)]


def load_safety(path: str | Path) -> list[SafetyExample]:
    """XSTest-style (``prompt``, ``type``, ``label``) or AdvBench-style (``goal``) csv."""
    examples = []
    for line_no, row in _csv(path):
        where = f"{path}:{line_no}"
        if "goal" in row:
            examples.append(SafetyExample(user_turn(row["goal"]), harmful=True, category="advbench"))
            continue
        _need(row, ("prompt", "label"), where)
        label = row["label"].strip().lower()
        if label not in ("safe", "unsafe"):
            raise ValueError(f"{where}: label {row['label']!r}; allowed: safe, unsafe")
        examples.append(SafetyExample(user_turn(row["prompt"]), harmful=label == "unsafe", category=row.get("type", "")))
    return examples
