"""Datasets for each stage, from the synthetic task or from the user's own files / Hub datasets.

Every stage sees the same three shapes, whatever the source:

* SFT: conversational prompt-completion rows (``prompt``, ``completion``), so TRL trains on the answer only;
  tool-calling rows add ``tools`` (JSON schemas as a JSON string), which TRL hands to the chat template;
* GRPO: ``prompt`` plus ``task`` and each task's gold columns (``answer``; ``functions``/``expected_calls``;
  ``harmful``), which TRL passes to every reward as keywords; a reward returns None for other tasks' rows;
* test: ``prompt`` plus ``answer``, for the held-out evals.

The synthetic tool-calling and safety conversations (``data.tool_calling``, ``data.safety``) are mixed into
SFT (and, with a ``grpo_size``, into GRPO) whatever the reasoning source, shuffled with the seed.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

from datasets import Dataset, load_dataset
from omegaconf import DictConfig, OmegaConf

from rlreason.data import arithmetic, safety, tool_calling
from rlreason.evals.function_calling import render_expected
from rlreason.models.tokenizer import render


def _plain(cfg):
    """Hydra's typed config as its dataclass: the generators read it ~10^5 times, at ~10 us a read on a
    ``DictConfig`` (4000 problems: 2.3 s instead of 0.06 s)."""
    return OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg


def user_turn(prompt) -> list[dict[str, str]]:
    """A string becomes a one-message user turn; a list of chat messages passes through unchanged."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def _assistant(completion) -> list[dict[str, str]]:
    """A string becomes a one-message assistant turn; a list of chat messages passes through unchanged."""
    return [{"role": "assistant", "content": completion}] if isinstance(completion, str) else completion


def load_file(path: str) -> Dataset:
    """A local ``.jsonl``/``.json`` or ``.parquet`` file through ``datasets.load_dataset``."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(file.suffix)
    if builder is None:
        raise ValueError(f"data file {path}: unsupported extension {file.suffix!r}; allowed: .jsonl, .json, .parquet")
    return load_dataset(builder, data_files=str(file), split="train")


def _user_split(cfg, split: str) -> Dataset:
    if cfg.source.value == "file":
        path = cfg.train_file if split == "train" else cfg.test_file
        if path is None:
            raise ValueError(f"data.{split}_file must be set when data.source=file")
        dataset = load_file(path)
        origin = path
    else:
        if cfg.path is None:
            raise ValueError("data.path must name a dataset (Hub name or local folder) when data.source=hub")
        name = cfg.train_split if split == "train" else cfg.test_split
        dataset = load_dataset(cfg.path, split=name)
        origin = f"{cfg.path}[{name}]"
    missing = [c for c in (cfg.prompt_column, cfg.answer_column) if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{origin}: missing column(s) {missing}; found {dataset.column_names} "
            "(set data.prompt_column / data.answer_column)"
        )
    return dataset


def _first(dataset: Dataset, size: int) -> Dataset:
    """The first ``size`` rows of a user dataset; 0 keeps them all."""
    return dataset.select(range(min(size, dataset.num_rows))) if size > 0 else dataset


def _to_rows(cfg, dataset: Dataset) -> Dataset:
    prompts = [user_turn(p) for p in dataset[cfg.prompt_column]]
    # Answers are compared as text (math-verify parses them), whatever type the file stored.
    return Dataset.from_dict({"prompt": prompts, "answer": [str(a) for a in dataset[cfg.answer_column]]})


def _tool_rows(cfg, seed: int, size: int) -> list[dict]:
    examples = tool_calling.generate("train", size, seed)
    return [
        {"prompt": e.prompt, "tools": json.dumps(e.functions), "expected_calls": json.dumps(e.expected), "example": e}
        for e in examples
    ]


def _mixed(rows: list[dict], primary: int, seed: int) -> Dataset:
    """Rows as a dataset, shuffled (seeded) when other tasks were appended to the ``primary`` ones."""
    if len(rows) > primary:
        random.Random(f"{seed}-mix").shuffle(rows)
    return Dataset.from_list(rows)


def _skill_sft_rows(cfg, seed: int) -> list[dict]:
    """The tool-calling and safety demonstrations (``data.tool_calling.sft_size``, ``data.safety.sft_size``)."""
    rows = []
    for row in _tool_rows(cfg, seed, cfg.tool_calling.sft_size):
        rows.append({"prompt": row["prompt"], "completion": _assistant(render_expected(row["example"])), "tools": row["tools"]})
    for conversation in safety.generate("train", cfg.safety.sft_size, seed):
        rows.append({"prompt": conversation.example.prompt, "completion": _assistant(conversation.completion), "tools": None})
    return rows


def sft_dataset(cfg, seed: int) -> Dataset:
    """Cold-start demonstrations: chains of thought, plus the tool-calling and safety conversations."""
    rows = [{**row, "tools": None} for row in _reasoning_sft_rows(cfg, seed)]
    return _mixed(rows + _skill_sft_rows(cfg, seed), len(rows), seed)


def rollout_sft_dataset(path: str, cfg, seed: int) -> Dataset:
    """Rejection-sampling SFT data: the completions a rollout stage kept, plus the tool-calling and safety
    demonstrations, as R1's stage-3 SFT adds non-reasoning data so those skills are not forgotten."""
    kept = load_file(path).to_list()
    if not kept:
        raise ValueError(f"{path}: the rollout stage kept no completion; lower rollout.min_reward or use rollout.keep=all")
    rows = [{"prompt": r["prompt"], "completion": r["completion"], "tools": r["tools"]} for r in kept]
    return _mixed(rows + _skill_sft_rows(cfg, seed), len(rows), seed)


def _reasoning_sft_rows(cfg, seed: int) -> list[dict]:
    if cfg.source.value == "arithmetic":
        task = _plain(cfg.arithmetic)
        problems = arithmetic.generate(task, "train", cfg.sft_size, seed)
        teacher = random.Random(f"{seed}-teacher")
        return [
            {"prompt": user_turn(p.question), "completion": _assistant(arithmetic.teacher_completion(p, teacher, task))}
            for p in problems
        ]
    dataset = _first(_user_split(cfg, "train"), cfg.sft_size)
    if cfg.completion_column not in dataset.column_names:
        raise ValueError(f"SFT needs a {cfg.completion_column!r} column (data.completion_column)")
    return [
        {"prompt": user_turn(prompt), "completion": _assistant(completion)}
        for prompt, completion in zip(dataset[cfg.prompt_column], dataset[cfg.completion_column])
    ]


GRPO_COLUMNS = {"task": None, "answer": None, "functions": None, "expected_calls": None, "harmful": None}


def grpo_rows(cfg, seed: int) -> tuple[list[dict], int]:
    """RL rows (conversational prompts, ``task`` and gold columns) and how many of them are reasoning rows."""
    # A different seed stream from SFT's, so RL also sees prompts the cold start never showed.
    rl_seed = seed + 1_000_003
    if cfg.source.value == "arithmetic":
        problems = arithmetic.generate(_plain(cfg.arithmetic), "train", cfg.grpo_size, rl_seed)
        reasoning = [(user_turn(p.question), str(p.answer)) for p in problems]
    else:
        user = _to_rows(cfg, _first(_user_split(cfg, "train"), cfg.grpo_size))
        reasoning = list(zip(user["prompt"], user["answer"]))
    rows = [{**GRPO_COLUMNS, "prompt": prompt, "task": "reasoning", "answer": answer} for prompt, answer in reasoning]
    for row in _tool_rows(cfg, rl_seed, cfg.tool_calling.grpo_size):
        rows.append({**GRPO_COLUMNS, "prompt": row["prompt"], "task": "tool_calling", "functions": row["tools"], "expected_calls": row["expected_calls"]})
    for conversation in safety.generate("train", cfg.safety.grpo_size, rl_seed):
        rows.append({**GRPO_COLUMNS, "prompt": conversation.example.prompt, "task": "safety", "harmful": conversation.example.harmful})
    return rows, len(reasoning)


def render_prompt(tokenizer, row: dict) -> str:
    """A row's prompt as the text the model sees, with the row's tools (if any) in the chat template."""
    tools = json.loads(row["functions"]) if row.get("functions") else None
    return tokenizer.apply_chat_template(row["prompt"], tools=tools, add_generation_prompt=True, tokenize=False)


def grpo_dataset(cfg, seed: int, tokenizer=None) -> Dataset:
    """RL prompts with gold answers only: no chain of thought is needed, which is why RL scales past SFT data.

    With tool-calling rows in the mix (``data.tool_calling.grpo_size``), every prompt is rendered to text by
    the tokenizer's chat template, each with its own tools: TRL's GRPOTrainer only knows trainer-wide
    executable tools, not per-row schemas.
    """
    rows, reasoning = grpo_rows(cfg, seed)
    if any(row["functions"] for row in rows):
        if tokenizer is None:
            raise ValueError("GRPO data with tool-calling rows needs the tokenizer to render their tools")
        rows = [{**row, "prompt": render_prompt(tokenizer, row)} for row in rows]
    return _mixed(rows, reasoning, seed)


def function_calling_eval_set(cfg, seed: int) -> list:
    """Held-out synthetic tool-calling examples (requests no training row made)."""
    return tool_calling.generate("test", cfg.tool_calling.test_size, seed)


def safety_eval_set(cfg, seed: int) -> list:
    """Held-out synthetic harmful and benign requests."""
    return [c.example for c in safety.generate("test", cfg.safety.test_size, seed)]


def tokenizer_corpus(cfg, size: int, seed: int) -> list[str]:
    """SFT conversations of every synthetic task, rendered by the chat template: the tiny tokenizer learns
    the text it will see (tool signatures and call JSON included)."""
    tokenizer_cfg = copy.deepcopy(cfg)
    tokenizer_cfg.sft_size = size
    texts = []
    for row in sft_dataset(tokenizer_cfg, seed):
        tools = json.loads(row["tools"]) if row["tools"] else None
        texts.append(render(row["prompt"] + row["completion"], tools=tools))
    return texts


def eval_dataset(cfg, seed: int) -> Dataset:
    """Held-out problems; for the synthetic task, disjoint from every training split by construction."""
    if cfg.source.value == "arithmetic":
        problems = arithmetic.generate(_plain(cfg.arithmetic), "test", cfg.test_size, seed)
        return Dataset.from_list([{"prompt": user_turn(p.question), "answer": str(p.answer)} for p in problems])
    return _to_rows(cfg, _first(_user_split(cfg, "test"), cfg.test_size))
