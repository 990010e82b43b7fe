"""``rlreason eval score``: score completions produced elsewhere with the same checkers, no model loaded.

    rlreason eval score suite=reasoning data=gsm8k_test.jsonl completions=out.jsonl
    rlreason eval score suite=function_calling data=BFCL_simple.json answers=possible_answer/BFCL_simple.json completions=out.jsonl
    rlreason eval score suite=safety data=xstest.csv completions=out.jsonl

``completions`` is jsonl with one ``{"completion": "..."}`` per line, in dataset order. The command ends by
printing one JSON line with the suite's metrics.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from omegaconf import OmegaConf

from rlreason.evals import datasets, function_calling, safety
from rlreason.reward.accuracy import accuracy
from rlreason.validation import ConfigError, explain


class Suite(str, Enum):
    reasoning = "reasoning"
    function_calling = "function_calling"
    safety = "safety"


@dataclass
class ScoreConfig:
    suite: Suite = Suite.reasoning
    data: str = "???"
    completions: str = "???"
    answers: Optional[str] = None


def read_completions(path: str) -> list[str]:
    completions = []
    for line_no, row in datasets.read_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("completion"), str):
            raise ValueError(f"{path}:{line_no}: expected an object with a string 'completion'")
        completions.append(row["completion"])
    return completions


def score_reasoning(completions: list[str], examples: list[datasets.ReasoningExample]) -> dict[str, float]:
    correct = accuracy(completions, answer=[e.answer for e in examples])
    return {"accuracy": sum(correct) / max(len(correct), 1), "num_examples": len(correct)}


def score(cfg: ScoreConfig) -> dict[str, float]:
    completions = read_completions(cfg.completions)
    if cfg.suite is Suite.reasoning:
        examples = datasets.load_reasoning(cfg.data)
    elif cfg.suite is Suite.function_calling:
        examples = datasets.load_bfcl(cfg.data, cfg.answers)
    else:
        examples = datasets.load_safety(cfg.data)
    if len(completions) != len(examples):
        raise ValueError(
            f"{cfg.completions}: {len(completions)} completions for {len(examples)} examples in {cfg.data}; "
            "write one completion per example, in dataset order"
        )
    if cfg.suite is Suite.reasoning:
        return score_reasoning(completions, examples)
    if cfg.suite is Suite.function_calling:
        return {**function_calling.accuracy(completions, examples), "num_examples": len(examples)}
    return safety.rates(completions, examples)


def main(args: list[str]) -> None:
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(ScoreConfig), OmegaConf.from_dotlist(args))
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(f"{', '.join(missing)}: required; e.g. rlreason eval score suite=reasoning data=FILE completions=FILE")
        metrics = score(OmegaConf.to_object(cfg))
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"rlreason: eval score: {explain(error)}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(metrics))
