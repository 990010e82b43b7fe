"""What the training stages (sft, reward_model, grpo) share around their trainer: stopping on a signal with a
checkpoint saved, the checkpoint to resume from, and saving the trained model."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from rlreason import interrupt
from rlreason.distributed.comm import is_main_process
from rlreason.distributed.zero import whole_weights
from rlreason.interrupt import STOP_SIGNALS, Interrupted
from rlreason.models.loading import load_policy
from rlreason.models.lora import ADAPTER_DIR, LoraSettings, save_merged, trainable_parameters
from rlreason.stages.contract import partial_dir, publish

logger = logging.getLogger(__name__)

# Trainer writes a checkpoint's files one after the other and its state last: a folder without it was cut short.
TRAINER_STATE = "trainer_state.json"


class SaveOnInterrupt(TrainerCallback):
    """A trainer callback that turns the first stop signal into "save and stop"; a second one stops at once.

    Use as a context manager around ``trainer.train()`` so the previous handlers are restored; after training,
    :meth:`raise_if_requested` ends the stage when a signal asked for it.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._since = 0.0  # when the stop was asked for (monotonic seconds)
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> "SaveOnInterrupt":
        self._previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested and time.monotonic() - self._since < interrupt.SAME_STOP_S:
            return  # the same stop, arriving twice: Slurm signals every process and the launcher forwards it too
        if self.requested:
            raise Interrupted(signum)
        self.signum, self._since = signum, time.monotonic()
        name = signal.Signals(signum).name
        logger.warning("%s: saving a checkpoint after this step (send it again to stop now)", name)

    def on_step_end(self, args, state, control, **kwargs):
        self._agree()
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control

    def _agree(self) -> None:
        """In a multi-process stage, stop on every process at the same step if any was signalled: one that
        trained on alone would wait for the others in its next collective for ever."""
        import torch
        import torch.distributed as dist

        from rlreason.distributed.comm import collective_device

        device = collective_device()
        if device is None:
            return
        flag = torch.tensor([self.signum or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and not self.requested:
            self.signum, self._since = int(flag.item()), time.monotonic()

    def raise_if_requested(self, stage: str, step: int) -> None:
        """End ``stage`` with :class:`Interrupted` if a signal stopped its training (at ``step``)."""
        if self.requested:
            raise Interrupted(self.signum, f"{stage} stopped by {signal.Signals(self.signum).name} at step {step}, checkpoint saved")


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
    model_dir, adapter_dir = out / "model", out / ADAPTER_DIR
    # rank 0 writes the files; the other ranks only take part in gathering the weights
    partial, adapter_partial = (partial_dir(folder, clear=is_main_process()) for folder in (model_dir, adapter_dir))
    if not lora.enabled:
        trainer.save_model(str(partial))
    else:
        trainer.save_model(str(adapter_partial))
        if is_main_process():
            publish(adapter_partial, adapter_dir)
            with whole_weights():  # one process merges: a whole copy, also beside a ZeRO-3 trainer
                model = model_class.from_pretrained(base, **model_kwargs) if model_class else load_policy(base)
            save_merged(model, adapter_dir, partial)
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
