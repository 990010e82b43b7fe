"""Retention: what fine-tuning must not destroy in a pretrained checkpoint.

SFT on a narrow skill and RL on one reward can erase what a pretrained model knew, and the task suites do not
see it: they measure the skills being trained. This measure scores every checkpoint's mean negative
log-likelihood (nats per token) on reference texts unrelated to the training data; a rise means the model
finds ordinary knowledge less likely than before. It is cheap (one forward per text, no generation), exact
(teacher-forced, no sampling noise) and works on a model too small to answer factual questions correctly.

``eval.retention.texts``: ``general`` (the default of ``model=pretrained``: 40 encyclopedic sentences shipped
in ``rlreason/evals/data/general_text.jsonl``), or your own ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv``
file with a ``text`` column (e.g. a sample of your pretraining corpus); ``None`` (the tiny model's default,
which has no prior knowledge to keep) skips it. Per checkpoint, ``summary.json`` reports ``nll`` and
``perplexity`` and, from the second checkpoint on, ``nll_change`` against the first (for a pipeline run, the
starting checkpoint); the regression gate ``retention/nll`` compares each checkpoint with the eval baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rlreason.errors import UserError
from rlreason.tasks.common import SuiteResult, limited, load_file, require_values

SUITE = "retention"
GENERAL = "general"
GENERAL_TEXTS = Path(__file__).parent / "data" / "general_text.jsonl"


@dataclass
class RetentionConfig:
    """``eval.retention``: the reference texts and how much of each is scored."""

    texts: Optional[str] = None  # general | a file with a `text` column | None: off
    max_length: int = 512  # tokens scored per text
    limit: int = 0  # the first N texts; 0: all


def load_texts(cfg: RetentionConfig) -> list[str]:
    """The reference texts of ``eval.retention.texts``."""
    path = str(GENERAL_TEXTS) if cfg.texts == GENERAL else cfg.texts
    dataset = load_file(path, "eval.retention.texts")
    if "text" not in dataset.column_names:
        raise UserError(f"eval.retention.texts={cfg.texts}: no 'text' column; found {dataset.column_names}")
    require_values(dataset, ("text",), path)
    return limited(list(dataset["text"]), cfg.limit)


def evaluate(generator, texts: list[str], cfg: RetentionConfig) -> SuiteResult:
    """Mean NLL per token of each text under the generator's checkpoint (its first token is not scored)."""
    logprobs = generator.text_logprobs(texts, max_length=cfg.max_length)
    nll = [-sum(lp) / len(lp) for lp in logprobs]
    tokens = sum(map(len, logprobs))
    mean = -sum(map(sum, logprobs)) / tokens  # per token over all texts, as perplexity is reported
    metrics = {"nll": mean, "perplexity": math.exp(mean), "num_texts": len(texts), "num_tokens": tokens}
    records = [{"text": t, "nll": n, "num_tokens": len(lp)} for t, n, lp in zip(texts, nll, logprobs)]
    return SuiteResult(metrics, {"nll": nll}, records)


def add_changes(evals: dict[str, dict]) -> None:
    """``nll_change`` of every checkpoint after the first against the first (``evals``: label -> suite -> metrics)."""
    scored = [metrics[SUITE] for metrics in evals.values() if SUITE in metrics]
    for metrics in scored[1:]:
        metrics["nll_change"] = metrics["nll"] - scored[0]["nll"]
