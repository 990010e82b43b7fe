"""Datasets for each stage, from the synthetic task or from the user's own files / Hub datasets.

Every stage sees the same three shapes, whatever the source:

* SFT: conversational prompt-completion rows (``prompt``, ``completion``), so TRL trains on the answer only;
* GRPO: ``prompt`` (conversational) plus ``answer``, which TRL passes to every reward as a keyword;
* test: ``prompt`` plus ``answer``, for the held-out evals.
"""

from __future__ import annotations

import random
from pathlib import Path

from datasets import Dataset, load_dataset

from rlreason.data import arithmetic


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


def sft_dataset(cfg, seed: int) -> Dataset:
    """Cold-start chain-of-thought demonstrations."""
    if cfg.source.value == "arithmetic":
        problems = arithmetic.generate(cfg.arithmetic, "train", cfg.sft_size, seed)
        teacher = random.Random(f"{seed}-teacher")
        return Dataset.from_list(
            [
                {"prompt": user_turn(p.question), "completion": _assistant(arithmetic.teacher_completion(p, teacher, cfg.arithmetic))}
                for p in problems
            ]
        )
    dataset = _first(_user_split(cfg, "train"), cfg.sft_size)
    if cfg.completion_column not in dataset.column_names:
        raise ValueError(f"SFT needs a {cfg.completion_column!r} column (data.completion_column)")

    def convert(row):
        prompt, completion = row[cfg.prompt_column], row[cfg.completion_column]
        return {
            "prompt": user_turn(prompt),
            "completion": _assistant(completion),
        }

    return dataset.map(convert, remove_columns=dataset.column_names)


def grpo_dataset(cfg, seed: int) -> Dataset:
    """RL prompts with gold answers only: no chain of thought is needed, which is why RL scales past SFT data."""
    if cfg.source.value == "arithmetic":
        # A different seed stream from SFT's, so RL also sees prompts the cold start never showed.
        problems = arithmetic.generate(cfg.arithmetic, "train", cfg.grpo_size, seed + 1_000_003)
        return Dataset.from_list([{"prompt": user_turn(p.question), "answer": str(p.answer)} for p in problems])
    return _to_rows(cfg, _first(_user_split(cfg, "train"), cfg.grpo_size))


def eval_dataset(cfg, seed: int) -> Dataset:
    """Held-out problems; for the synthetic task, disjoint from every training split by construction."""
    if cfg.source.value == "arithmetic":
        problems = arithmetic.generate(cfg.arithmetic, "test", cfg.test_size, seed)
        return Dataset.from_list([{"prompt": user_turn(p.question), "answer": str(p.answer)} for p in problems])
    return _to_rows(cfg, _first(_user_split(cfg, "test"), cfg.test_size))
