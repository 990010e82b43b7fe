"""Each stage's dataset, mixed from the tasks of ``rlreason.tasks.TASKS``.

Every stage sees the same shapes, whatever the tasks' sources:

* SFT: conversational prompt-completion rows (``prompt``, ``completion``, ``tools``), so TRL trains on the
  answer only; ``tools`` (JSON schemas as a JSON string, or None) is what TRL hands to the chat template;
* GRPO: ``prompt``, ``task`` and every task's gold columns (``answer``; ``tools``/``expected_calls``;
  ``harmful``), which TRL passes to every reward as keywords; a reward returns None for other tasks' rows;
* eval: each task's held-out examples.

The first task of ``TASKS`` (reasoning) comes first; when other tasks add rows (``data.<task>.sft_size`` /
``grpo_size``), the mix is shuffled with the seed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Optional

from omegaconf import DictConfig, OmegaConf

from rlreason.errors import UserError
from rlreason.models.chat import render_prompt
from rlreason.models.tokenizer import render
from rlreason.tasks import TASKS
from rlreason.tasks.common import limited, load_file
from rlreason.tasks.reasoning import ReasoningConfig
from rlreason.tasks.safety import SafetyConfig
from rlreason.tasks.tool_calling import ToolCallingConfig
from rlreason.tasks.tool_use import ToolUseConfig

if TYPE_CHECKING:  # datasets loads when rows are built, not with the config schema (DataConfig)
    from datasets import Dataset

logger = logging.getLogger(__name__)

PRIMARY = next(iter(TASKS))  # the task RL trains by default, and the one whose rows ``data.source`` chooses
# A different seed stream from SFT's, so RL also sees prompts the cold start never showed.
RL_SEED_OFFSET = 1_000_003


class DataSource(str, Enum):
    """Where the reasoning rows come from: the synthetic task, local files, or ``datasets.load_dataset``."""

    arithmetic = "arithmetic"
    file = "file"
    hub = "hub"


@dataclass
class DataConfig:
    """``conf/data/``: where each task's rows come from, and how many each stage uses."""

    source: DataSource = DataSource.arithmetic
    # source=file: .jsonl / .json / .parquet files; source=hub: a `datasets.load_dataset` name or local folder
    # (each required by its source, so `data=file` without its files fails at start-up).
    train_file: Optional[str] = None
    test_file: Optional[str] = None
    path: Optional[str] = None
    train_split: str = "train"
    test_split: str = "test"
    prompt_column: str = "prompt"
    answer_column: str = "answer"
    completion_column: str = "completion"
    # GRPO prompts too long for the context (with grpo.max_completion_length to spare): false fails at
    # start-up, naming the first; true drops them, logging how many.
    drop_long_prompts: bool = False
    # One section per task of rlreason.tasks (sizes per stage, and the synthetic generators' settings).
    reasoning: ReasoningConfig = field(default_factory=ReasoningConfig)
    tool_calling: ToolCallingConfig = field(default_factory=ToolCallingConfig)
    tool_use: ToolUseConfig = field(default_factory=ToolUseConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)

    def __post_init__(self) -> None:
        required = {DataSource.file: ("train_file", "test_file"), DataSource.hub: ("path",)}.get(self.source, ())
        for key in required:
            if getattr(self, key) is None:
                raise UserError(
                    f"data.{key}: required by data={self.source.value}; set it as an override, e.g. data.{key}=..."
                )


def as_dataclass(cfg) -> DataConfig:
    """Hydra's typed config as its dataclass: the generators read it ~10^5 times, at ~10 us a read on a
    ``DictConfig`` (4000 problems: 2.3 s instead of 0.06 s)."""
    return OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg


def _mixed(rows: list[dict], primary: int, seed: int) -> Dataset:
    """Rows as a dataset, shuffled (seeded) when other tasks were appended to the ``primary`` ones."""
    from datasets import Dataset

    if len(rows) > primary:
        random.Random(f"{seed}-mix").shuffle(rows)
    return Dataset.from_list(rows)


def _skill_sft_rows(cfg: DataConfig, seed: int) -> list[dict]:
    """The demonstrations of every task but the primary one (tool calling, safety)."""
    return [row for name, task in TASKS.items() if name != PRIMARY for row in task.sft_rows(cfg, seed)]


def sft_dataset(cfg, seed: int) -> Dataset:
    """Cold-start demonstrations: chains of thought, plus the other tasks' conversations."""
    cfg = as_dataclass(cfg)
    rows = TASKS[PRIMARY].sft_rows(cfg, seed)
    return _mixed(rows + _skill_sft_rows(cfg, seed), len(rows), seed)


def has_tool_turns(dataset: Dataset) -> bool:
    """Whether a demonstration's completion holds tool turns (a multi-turn episode): SFT then trains on the
    assistant's turns only, not on what the tools returned."""
    return any(map(_is_episode, dataset["completion"]))


def _is_episode(completion: list[dict]) -> bool:
    """Whether a completion holds a tool turn."""
    return any(message["role"] == "tool" for message in completion)


def one_row_per_turn(dataset: Dataset) -> Dataset:
    """Multi-turn demonstrations split into one prompt-completion row per assistant turn (the conversation before
    it as the prompt, the turn as the completion), the other rows as they are: a completion-only loss then
    covers the assistant's turns and never a tool's output, whatever the chat template (TRL's assistant-only
    loss needs ``{% generation %}`` markers in it)."""
    from datasets import Dataset

    rows = []
    for row in dataset:
        completion = row["completion"]
        if not _is_episode(completion):
            rows.append(row)
            continue
        rows += [
            {**row, "prompt": row["prompt"] + completion[:i], "completion": [message]}
            for i, message in enumerate(completion)
            if message["role"] == "assistant"
        ]
    return Dataset.from_list(rows)


def rollout_sft_dataset(path: str, cfg, seed: int) -> Dataset:
    """Rejection-sampling SFT data: the completions a rollout stage kept, plus the other tasks'
    demonstrations, as R1's stage-3 SFT adds non-reasoning data so those skills are not forgotten."""
    cfg = as_dataclass(cfg)
    kept = load_file(path, "the rollout stage's kept completions").to_list()
    if not kept:
        raise UserError(
            f"{path}: the rollout stage kept no completion; "
            f"lower rejection_sampling.min_reward or use rejection_sampling.keep=all"
        )
    rows = [{"prompt": r["prompt"], "completion": r["completion"], "tools": r["tools"]} for r in kept]
    return _mixed(rows + _skill_sft_rows(cfg, seed), len(rows), seed)


def grpo_columns() -> dict[str, None]:
    """Every column a GRPO row may carry, empty: each row gets them all, so the tasks mix in one table."""
    return {"task": None, **{column: None for task in TASKS.values() for column in task.columns}}


def grpo_rows(cfg, seed: int) -> tuple[list[dict], int]:
    """RL rows (conversational prompts, ``task`` and gold columns), and how many of them are the primary task's."""
    cfg = as_dataclass(cfg)
    empty = grpo_columns()
    rows, primary = [], 0
    for name, task in TASKS.items():
        rows += [{**empty, **task.row(example)} for example in task.grpo_examples(cfg, seed + RL_SEED_OFFSET)]
        if name == PRIMARY:
            primary = len(rows)
    return rows, primary


def grpo_dataset(cfg, seed: int, tokenizer=None) -> Dataset:
    """The GRPO prompts with their gold columns.

    With tool-calling rows in the mix (``data.tool_calling.grpo_size``), every prompt is rendered to text by
    the tokenizer's chat template, each with its own tools: TRL's GRPOTrainer only knows trainer-wide
    executable tools, not per-row schemas.
    """
    rows, primary = grpo_rows(cfg, seed)
    if any(row.get("tools") for row in rows):
        if tokenizer is None:
            raise ValueError("GRPO data with tool-calling rows needs the tokenizer to render their tools")
        rows = [{**row, "prompt": render_prompt(tokenizer, row["prompt"], row_tools(row))} for row in rows]
    return _mixed(rows, primary, seed)


def prompt_lengths(rows, tokenizer) -> list[int]:
    """Each GRPO row's prompt length in tokens, as the trainer renders it (chat template and tools, or text)."""
    return [
        len(render_prompt(tokenizer, row["prompt"], row_tools(row), tokenize=True))
        if isinstance(row["prompt"], list)
        else len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"])
        for row in rows
    ]


def without_long_prompts(dataset: Dataset, tokenizer, budget: int) -> Dataset:
    """``dataset`` without the rows whose prompt is longer than ``budget`` tokens (``data.drop_long_prompts``)."""
    lengths = prompt_lengths(dataset, tokenizer)
    kept = [i for i, n in enumerate(lengths) if n <= budget]
    if len(kept) < len(lengths):
        logger.warning(
            "GRPO: dropped %d of %d prompts longer than %d tokens (data.drop_long_prompts)",
            len(lengths) - len(kept),
            len(lengths),
            budget,
        )
    if not kept:
        raise UserError(
            f"data.drop_long_prompts: every GRPO prompt is longer than {budget} tokens; nothing is left to train on"
        )
    return dataset.select(kept)


def row_tools(row: dict) -> list[dict] | None:
    """A row's tool schemas (stored as a JSON string), or None."""
    return json.loads(row["tools"]) if row.get("tools") else None


def used_tasks(cfg) -> list[str]:
    """The tasks a run uses: those with rows in some stage or a held-out split (``data.<task>.*_size`` > 0);
    ``tool_use`` is off unless a pipeline such as ``r1_tools`` sizes it."""
    cfg = as_dataclass(cfg)
    sizes = ("sft_size", "grpo_size", "test_size")
    return [name for name in TASKS if any(getattr(getattr(cfg, name), size, 0) for size in sizes)]


def held_out_sets(cfg, seed: int, names=None) -> dict[str, list]:
    """Each task's held-out examples, of every task or of ``names`` (tasks whose test size is 0 are left out)."""
    cfg = as_dataclass(cfg)
    sets = {name: task.held_out_examples(cfg, seed) for name, task in TASKS.items() if names is None or name in names}
    return {name: examples for name, examples in sets.items() if examples}


def load_suites(cfg) -> dict[str, list]:
    """Each task's examples, loaded once for all checkpoints: its public-format file when ``eval.<task>.data``
    is set, else its held-out split of ``data`` (tasks with neither are left out)."""
    with_files = {name for name in TASKS if cfg.eval[name].data}
    suites = held_out_sets(cfg.data, cfg.seed, [name for name in TASKS if name not in with_files])
    for name in with_files:
        files = cfg.eval[name]
        suites[name] = limited(TASKS[name].load_public(files.data, files.answers), files.limit)
    return {name: suites[name] for name in TASKS if name in suites}


def tokenizer_corpus(cfg, size: int, seed: int) -> list[str]:
    """SFT conversations of every synthetic task, rendered by the chat template: the tiny tokenizer learns
    the text it will see (tool signatures and call JSON included)."""
    cfg = as_dataclass(cfg)
    cfg = dataclasses.replace(cfg, reasoning=dataclasses.replace(cfg.reasoning, sft_size=size))
    return [render(row["prompt"] + row["completion"], tools=row_tools(row)) for row in sft_dataset(cfg, seed)]
