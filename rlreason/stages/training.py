"""What the training stages (sft, reward_model, grpo) share around their trainer: the checkpoint to resume from,
and saving the trained model."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from rlreason.distributed.config import is_main_process
from rlreason.models.lora import ADAPTER_DIR, LoraSettings, save_merged, trainable_parameters
from rlreason.stages.contract import publish

logger = logging.getLogger(__name__)

# Trainer writes a checkpoint's files one after the other and its state last: a folder without it was cut short.
TRAINER_STATE = "trainer_state.json"


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest trainer checkpoint in ``checkpoints`` that was saved whole, to resume from; None if none is.

    A newer ``checkpoint-N`` without ``trainer_state.json`` is a save cut short (``kill -9``, the OOM killer, a
    lost node): it is reported and skipped, and training resumes from the one before it."""
    if not checkpoints.is_dir():
        return None
    found = sorted((p for p in checkpoints.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for folder in found:
        if (folder / TRAINER_STATE).is_file():
            return str(folder)
        logger.warning("%s: incomplete (no %s: its save was cut short); resuming from an earlier checkpoint",
                       folder, TRAINER_STATE)
    return None


def save_trained(trainer, out: Path, tokenizer, lora: LoraSettings, base: str, model_class=None, **model_kwargs) -> Path:
    """Save the trained model as ``out/model`` (a Hugging Face folder, with the tokenizer) and return its path.

    Every process calls it: under ZeRO-3 the weights are gathered from all of them. With LoRA the trainer saves
    the adapter to ``out/adapter`` and rank 0 merges it into ``base`` (loaded with ``model_class`` and
    ``model_kwargs``; the policy's causal LM by default) for ``out/model``. Each folder is written under a
    ``.partial`` name and renamed when whole, so a save cut short never leaves a folder that looks complete."""
    model_dir = out / "model"
    partial = out / "model.partial"
    if not lora.enabled:
        trainer.save_model(str(partial))
    else:
        adapter_partial = out / f"{ADAPTER_DIR}.partial"
        trainer.save_model(str(adapter_partial))
        if is_main_process():
            publish(adapter_partial, out / ADAPTER_DIR)
            save_merged(base, out / ADAPTER_DIR, partial, model_class, **model_kwargs)
    if is_main_process():
        tokenizer.save_pretrained(partial)
        publish(partial, model_dir)
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
