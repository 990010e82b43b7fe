"""Loading the policy a stage starts from: a Hugging Face folder, its model and its tokenizer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from rlreason.models.lora import LoraSettings, is_peft_model
from rlreason.models.tiny_moe import TinyMoEConfig


class ModelSource(str, Enum):
    """Where the policy comes from: built here (``model=tiny_moe``) or a checkpoint folder (``model=pretrained``)."""

    tiny_moe = "tiny_moe"
    pretrained = "pretrained"


@dataclass
class ModelConfig:
    """``conf/model/``: the policy to start from. ``path`` (any HF checkpoint) wins over ``tiny_moe``;
    ``model=pretrained`` and the checkpoint presets built on it (``model=qwen3_30b_a3b`` ...) make it required."""

    source: ModelSource = ModelSource.tiny_moe
    path: Optional[str] = None
    # A GGUF file inside model.path (e.g. a quantized release): the init stage dequantizes it into a Hugging Face
    # folder (fp32) that every later stage and vLLM load like any other checkpoint.
    gguf_file: Optional[str] = None
    # The architecture (config.json's model_type) a checkpoint preset is written for, e.g. qwen3_moe for
    # model=qwen3_30b_a3b; the pre-flight refuses a model.path of another. None: any.
    model_type: Optional[str] = None
    tiny_moe: TinyMoEConfig = field(default_factory=TinyMoEConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)  # train adapters instead of every weight (models/lora.py)
    # Recompute activations in the backward pass instead of keeping them (every training stage): memory for a
    # third more compute per step. Off for the tiny MoE and SmolLM2 on CPU, where memory is plentiful (TRL's
    # configs default to on); model=pretrained turns it on for the multi-billion checkpoints it is written for.
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.source is ModelSource.pretrained and not self.path:
            raise ValueError("model.path: required by model=pretrained; set it as an override, e.g. model.path=DIR")
        if self.gguf_file and not self.path:
            raise ValueError("model.gguf_file: needs model.path, the folder that holds it")


def load_tokenizer(path: str, padding_side: str | None = None):
    """The checkpoint's tokenizer; ``padding_side="left"`` for batched generation with a decoder-only model."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    return tokenizer


def is_moe(model) -> bool:
    """Whether the model (or a model of this config) routes tokens to experts: its config declares router
    logits (TRL's own test, which decides whether it adds the load-balancing loss)."""
    return hasattr(getattr(model, "config", model).get_text_config(), "output_router_logits")


def load_policy(path: str):
    """The checkpoint's causal LM, ready to train or to generate.

    On an MoE model, router logits stay off in the config: TRL requests them itself in its loss forward, while
    left on in the config they make Hugging Face ``generate`` fail (and SFT saves them switched on). A dense
    model is left alone: giving its config the key would make TRL take it for an MoE.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    if is_moe(model):
        model.config.get_text_config().output_router_logits = False
    return model


class ResumeConvertedWeights:
    """A ``Trainer`` mixin: resuming from a trainer checkpoint loads the weights the way ``from_pretrained`` does.

    ``Trainer`` resumes with ``model.load_state_dict(<checkpoint file>, strict=False)``. transformers 5 saves an
    MoE's experts one tensor per expert (the Hub format) but holds them fused in memory, so those keys match
    nothing and the experts silently keep the weights the stage started from: every step trained before the stop
    is lost for them (transformers#48805). ``from_pretrained`` converts the checkpoint; its weights are then
    copied in, strictly. DeepSpeed and FSDP resume through their own loaders and do not reach this method; nor
    does a LoRA model, whose checkpoint holds only its adapter (``Trainer`` loads that itself, exactly).
    """

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        model = model if model is not None else self.model
        if is_peft_model(model):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        # the model's own class: a causal LM (SFT, GRPO) or a sequence classifier (the reward model)
        trained = type(model).from_pretrained(resume_from_checkpoint, dtype=model.dtype)
        model.load_state_dict(trained.state_dict(), strict=True)


def dequantize_gguf(folder: str, gguf_file: str, out) -> None:
    """Save the model and tokenizer of ``folder/gguf_file`` as a Hugging Face folder ``out`` in fp32.

    transformers reads GGUF (dequantizing it) but will not save a model it loaded that way, so the weights move
    into a model built from the same config.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
