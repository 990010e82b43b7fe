"""Loading the policy a stage starts from: a Hugging Face folder, its model and its tokenizer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from rlreason.models.tiny_moe import TinyMoEConfig


class ModelSource(str, Enum):
    """Where the policy comes from: built here (``model=tiny_moe``) or a checkpoint folder (``model=pretrained``)."""

    tiny_moe = "tiny_moe"
    pretrained = "pretrained"


@dataclass
class ModelConfig:
    """``conf/model/``: the policy to start from. ``path`` (any HF checkpoint) wins over ``tiny_moe``;
    ``model=pretrained`` makes it required."""

    source: ModelSource = ModelSource.tiny_moe
    path: Optional[str] = None
    tiny_moe: TinyMoEConfig = field(default_factory=TinyMoEConfig)

    def __post_init__(self) -> None:
        if self.source is ModelSource.pretrained and not self.path:
            raise ValueError("model.path: required by model=pretrained; set it as an override, e.g. model.path=DIR")


def load_tokenizer(path: str, padding_side: str | None = None):
    """The checkpoint's tokenizer; ``padding_side="left"`` for batched generation with a decoder-only model."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    return tokenizer


def load_policy(path: str):
    """The checkpoint's causal LM, ready to train or to generate.

    Router logits stay off in the config: TRL requests them itself in its loss forward, while left on in the
    config they make Hugging Face ``generate`` fail on MoE models (and SFT saves them switched on).
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    model.config.output_router_logits = False
    return model
