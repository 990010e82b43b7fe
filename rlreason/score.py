"""``rlreason eval score``: score completions produced elsewhere with the tasks' own checkers, no model loaded.

    rlreason eval score suite=reasoning data=aime_2024.jsonl completions=out.jsonl
    rlreason eval score suite=tool_calling data=BFCL_v3_simple.json answers=possible_answer/BFCL_v3_simple.json \
        completions=out.jsonl
    rlreason eval score suite=safety data=xstest.csv completions=out.jsonl

``suite`` is a task of ``rlreason.tasks.TASKS``; ``data`` a file in one of the public formats that task reads
(see ``rlreason/tasks/<task>.py``); ``completions`` jsonl with one ``{"completion": "..."}`` per line, in dataset
order. The command ends by printing one JSON line with the task's metrics.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from omegaconf import OmegaConf

from rlreason.config import ConfigError, explain
from rlreason.errors import UserError, exit_with
from rlreason.tasks import TASKS
from rlreason.tasks.common import read_jsonl

logger = logging.getLogger(__name__)

Suite = Enum("Suite", {name: name for name in TASKS}, type=str)
# Suite names a release used before each skill had one name everywhere; they still work, with a warning.
RENAMED_SUITES = {"function_calling": "tool_calling"}


@dataclass
class ScoreConfig:
    suite: Suite = Suite.reasoning
    data: str = "???"
    completions: str = "???"
    answers: Optional[str] = None


def read_completions(path: str) -> list[str]:
    completions = []
    for line_no, row in read_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("completion"), str):
            raise UserError(f"{path}:{line_no}: expected an object with a string 'completion'")
        completions.append(row["completion"])
    return completions


def score(cfg: ScoreConfig) -> dict[str, float]:
    task = TASKS[cfg.suite.value]
    completions = read_completions(cfg.completions)
    examples = task.load_public(cfg.data, cfg.answers)
    if len(completions) != len(examples):
        raise UserError(
            f"{cfg.completions}: {len(completions)} completions for {len(examples)} examples in {cfg.data}; "
            "write one completion per example, in dataset order"
        )
    return task.score(completions, examples).metrics


def _renamed(args: list[str]) -> list[str]:
    fixed = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "suite" and value in RENAMED_SUITES:
            print(
                f"rlreason: suite={value} is now suite={RENAMED_SUITES[value]}; the old name will go away",
                file=sys.stderr,
            )
            arg = f"suite={RENAMED_SUITES[value]}"
        fixed.append(arg)
    return fixed


def main(args: list[str]) -> None:
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(ScoreConfig), OmegaConf.from_dotlist(_renamed(args)))
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(
                f"{', '.join(missing)}: required; e.g. rlreason eval score suite=reasoning data=FILE completions=FILE"
            )
        metrics = score(OmegaConf.to_object(cfg))
    except (ConfigError, ValueError, FileNotFoundError) as error:  # OmegaConf's errors are ValueErrors
        exit_with(error, "rlreason: eval score", explain(error))
    print(json.dumps(metrics))
