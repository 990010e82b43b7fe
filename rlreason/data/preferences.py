"""Preference pairs for the ``reward_model`` stage: the user's file, or pairs built from the tasks.

A pair is a prompt with a preferred (``chosen``) and a dispreferred (``rejected``) reply, TRL's preference
format: conversational (``prompt`` a list of messages, replies lists or strings) or text, with an optional
``tools`` column (JSON schemas). Built from the tasks the run uses (``reward_model.pairs_per_task`` each), each
pair prefers a reply the task's checker accepts over one it rejects: a refusal for a harmful request and a
helpful answer for a benign one, the expected tool call over a wrong one, a finished chain over a shortcut. The held-out
pairs come from each task's test split, disjoint from every training split.

Every pair is rendered to text the way GRPO shows it to a reward (:func:`rlreason.rewards.model.reward_text`:
the policy's chat template with the row's tools), so the reward model is trained on what it will score.
"""

from __future__ import annotations

from datasets import Dataset

from rlreason.data.mixer import as_dataclass, row_tools, used_tasks
from rlreason.errors import UserError
from rlreason.models.chat import prompt_text
from rlreason.tasks import TASKS
from rlreason.tasks.common import completion_text, load_file, require_values

COLUMNS = ("prompt", "chosen", "rejected")


def task_pairs(data_cfg, split: str, size: int, seed: int, tasks=None) -> list[dict]:
    """``size`` pairs of ``split`` from each task (each of ``tasks``, default every task the run uses)."""
    data_cfg = as_dataclass(data_cfg)
    tasks = used_tasks(data_cfg) if tasks is None else tasks
    return [
        pair
        for name, task in TASKS.items()
        if name in tasks
        for pair in task.preference_pairs(data_cfg, split, size, seed)
    ]


def file_pairs(path: str, key: str) -> list[dict]:
    """The pairs of a user's file (``datasets.load_dataset``), every row checked for its columns."""
    dataset = load_file(path, key)
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        raise UserError(
            f"{key}={path}: no column(s) {missing}; a preference file has {list(COLUMNS)} (and optionally 'tools')"
        )
    require_values(dataset, COLUMNS, path)
    return dataset.to_list()


def rendered(pairs: list[dict], tokenizer) -> Dataset:
    """Pairs as text, TRL's explicit-prompt format; TRL appends the end-of-sequence token, as ``reward_text`` does."""
    return Dataset.from_list(
        [
            {
                "prompt": prompt_text(tokenizer, pair["prompt"], row_tools(pair)),
                "chosen": completion_text(pair["chosen"]),
                "rejected": completion_text(pair["rejected"]),
                "task": pair.get("task") or "file",
            }
            for pair in pairs
        ]
    )


def preference_splits(cfg, seed: int):
    """(train pairs, test pairs) as the config says: files, or built from the tasks."""
    rm = cfg.reward_model
    if rm.train_file:
        train = file_pairs(rm.train_file, "reward_model.train_file")
        if rm.test_file:
            return train, file_pairs(rm.test_file, "reward_model.test_file")
        cut = max(1, len(train) // 10)  # no test file: the last tenth is held out
        return train[:-cut], train[-cut:]
    return task_pairs(cfg.data, "train", rm.pairs_per_task, seed), task_pairs(
        cfg.data, "test", rm.test_pairs_per_task, seed
    )
