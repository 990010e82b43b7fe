"""Stage **init**: resolve the policy the pipeline starts from.

Features:
- ``model=tiny_moe`` (default): trains a byte-level BPE on the synthetic tasks' text and builds a tiny Qwen3-MoE
  from ``conf/model/tiny_moe.yaml``, both seeded, saved as a Hugging Face folder.
- ``model.path=DIR``: any local Hugging Face checkpoint (loaded with ``from_pretrained`` to check it loads,
  then used in place; nothing is copied), MoE or dense.
- ``model.gguf_file=FILE`` (in ``model.path``): a GGUF release, dequantized once into ``init/model`` (fp32).
"""

from __future__ import annotations

from pathlib import Path

from rlreason.data.mixer import tokenizer_corpus
from rlreason.errors import MissingInput
from rlreason.models.loading import dequantize_gguf, is_moe, load_policy, load_tokenizer
from rlreason.models.tiny_moe import build_tiny_moe
from rlreason.models.tokenizer import train_tokenizer
from rlreason.runtime import seed_everything
from rlreason.stages.contract import StageResult, partial_dir, publish

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = (
    "seed",
    "model.source",
    "model.path",
    "model.gguf_file",
    "model.model_type",
    "model.tiny_moe",
    "data",
)  # data: the tiny tokenizer learns the tasks' text; model.lora is the training stages'


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    if cfg.model.path:
        path = Path(cfg.model.path)
        if not path.exists():
            raise MissingInput(f"model.path={cfg.model.path}: no such checkpoint folder")
        if cfg.model.gguf_file:
            if not (path / cfg.model.gguf_file).is_file():
                raise MissingInput(f"model.gguf_file={cfg.model.gguf_file}: not in {path}")
            partial = partial_dir(run.stage_dir("init") / "model")
            dequantize_gguf(cfg.model.path, cfg.model.gguf_file, partial)
            path = publish(partial, run.stage_dir("init") / "model")
        load_tokenizer(str(path))
        model = load_policy(str(path))
        metrics = {"parameters": model.num_parameters(), "architecture": type(model).__name__, "moe": is_moe(model)}
        return StageResult(checkpoint=str(path.resolve()), metrics=metrics)

    tiny = cfg.model.tiny_moe
    corpus = tokenizer_corpus(cfg.data, tiny.tokenizer_corpus_size, cfg.seed)
    tokenizer = train_tokenizer(corpus, vocab_size=tiny.tokenizer_vocab_size)
    model = build_tiny_moe(tiny, tokenizer, cfg.seed)
    partial = partial_dir(run.stage_dir("init") / "model")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    out = publish(partial, run.stage_dir("init") / "model")
    return StageResult(
        checkpoint=str(out),
        metrics={"parameters": model.num_parameters(), "vocab_size": len(tokenizer)},
    )
