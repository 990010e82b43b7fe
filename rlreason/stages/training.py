"""What the training stages (sft, reward_model, grpo) share once their trainer has run: saving the model."""

from __future__ import annotations

from pathlib import Path

from rlreason.distributed.config import is_main_process
from rlreason.models.lora import ADAPTER_DIR, LoraSettings, save_merged, trainable_parameters


def save_trained(trainer, out: Path, tokenizer, lora: LoraSettings, base: str, model_class=None, **model_kwargs) -> Path:
    """Save the trained model as ``out/model`` (a Hugging Face folder, with the tokenizer) and return its path.

    Every process calls it: under ZeRO-3 the weights are gathered from all of them. With LoRA the trainer saves
    the adapter to ``out/adapter`` and rank 0 merges it into ``base`` (loaded with ``model_class`` and
    ``model_kwargs``; the policy's causal LM by default) for ``out/model``."""
    model_dir = out / "model"
    if not lora.enabled:
        trainer.save_model(str(model_dir))
    else:
        adapter_dir = out / ADAPTER_DIR
        trainer.save_model(str(adapter_dir))
        if is_main_process():
            save_merged(base, adapter_dir, model_dir, model_class, **model_kwargs)
    if is_main_process():
        tokenizer.save_pretrained(model_dir)
    return model_dir


def parameter_metrics(trainer, lora: LoraSettings) -> dict:
    """For a stage's metrics: ``trainable_parameters`` (with LoRA also their share of all parameters) and the
    optimizer state this process holds (``optimizer_state_mib``: Adam's two moments per trainable parameter,
    a shard of them under ZeRO), what LoRA shrinks."""
    import torch

    trainable, total = trainable_parameters(trainer.model)
    metrics = {"trainable_parameters": trainable}
    if lora.enabled:
        metrics["trainable_share"] = round(trainable / total, 6)
    state = getattr(trainer.optimizer, "state", None) or {}
    tensors = [t for s in state.values() for t in s.values() if torch.is_tensor(t)]
    metrics["optimizer_state_mib"] = round(sum(t.numel() * t.element_size() for t in tensors) / 2**20, 2)
    return metrics
