"""Stage **init**: resolve the policy the pipeline starts from.

Features:
- ``model=tiny_moe`` (default): trains a byte-level BPE on the synthetic tasks' text and builds a tiny Qwen3-MoE
  from ``conf/model/tiny_moe.yaml``, both seeded, saved as a Hugging Face folder.
- ``model.path=DIR``: any local Hugging Face checkpoint (loaded with ``from_pretrained`` to check it loads,
  then used in place; nothing is copied).
"""

from __future__ import annotations

from pathlib import Path

from rlreason.data.mixer import tokenizer_corpus
from rlreason.models.loading import load_policy, load_tokenizer
from rlreason.models.tiny_moe import build_tiny_moe
from rlreason.models.tokenizer import train_tokenizer
from rlreason.runtime import seed_everything
from rlreason.stages.contract import StageResult


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    if cfg.model.path:
        path = Path(cfg.model.path)
        if not path.exists():
            raise FileNotFoundError(f"model.path={cfg.model.path}: no such checkpoint folder")
        load_tokenizer(str(path))
        model = load_policy(str(path))
        return StageResult(checkpoint=str(path.resolve()), metrics={"parameters": model.num_parameters()})

    tiny = cfg.model.tiny_moe
    corpus = tokenizer_corpus(cfg.data, tiny.tokenizer_corpus_size, cfg.seed)
    tokenizer = train_tokenizer(corpus, vocab_size=tiny.tokenizer_vocab_size)
    model = build_tiny_moe(tiny, tokenizer, cfg.seed)
    out = run.stage_dir("init") / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return StageResult(
        checkpoint=str(out),
        metrics={"parameters": model.num_parameters(), "vocab_size": len(tokenizer)},
    )
