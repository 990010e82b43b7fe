"""The skeleton of the training stages (sft, reward_model, grpo): :class:`TrainingStage` seeds the stage, builds
the trainer arguments every stage sets alike, resumes from the stage's last complete checkpoint, logs to the
stage's W&B run, turns a stop signal into "save a checkpoint and stop" (:class:`SaveOnInterrupt`), and saves
the trained model with the metrics every stage reports. A stage's module keeps only what is its own: its data,
its trainer class and settings, its metrics."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from rlreason import interrupt, tracking
from rlreason.distributed.comm import from_every_process, is_main_process
from rlreason.distributed.zero import trainer_args, whole_weights
from rlreason.interrupt import STOP_SIGNALS, Interrupted
from rlreason.models.loading import load_policy
from rlreason.models.lora import ADAPTER_DIR, LoraSettings, save_merged, trainable_parameters
from rlreason.runtime import peak_memory_mib, precision_args, resolve_device, seconds_per_step, seed_everything
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

    def __enter__(self) -> SaveOnInterrupt:
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
            raise Interrupted(
                self.signum, f"{stage} stopped by {signal.Signals(self.signum).name} at step {step}, checkpoint saved"
            )


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest trainer checkpoint in ``checkpoints`` that was saved whole, to resume from; None if none is.

    A newer ``checkpoint-N`` without ``trainer_state.json`` is a save cut short (``kill -9``, the OOM killer, a
    lost node): it is reported and skipped, and training resumes from the one before it."""
    if not checkpoints.is_dir():
        return None
    found = sorted(
        (p for p in checkpoints.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for folder in found:
        if (folder / TRAINER_STATE).is_file():
            return str(folder)
        logger.warning(
            "%s: incomplete (no %s: its save was cut short); resuming from an earlier checkpoint", folder, TRAINER_STATE
        )
    return None


def save_trained(
    trainer, out: Path, tokenizer, lora: LoraSettings, base: str, model_class=None, **model_kwargs
) -> Path:
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


def trainer_arguments(cfg, section, out: str | Path, device: str, **changed) -> dict:
    """The ``transformers.TrainingArguments`` every training stage sets alike, from its config ``section`` (its
    schedule, logging and checkpoints) and the run (seed, precision, reporting, DeepSpeed), for the stage folder
    ``out``; ``changed`` values take precedence. A stage adds its own."""
    out = Path(out)
    saving = (
        {"save_strategy": "steps", "save_steps": section.save_steps} if section.save_steps else {"save_strategy": "no"}
    )
    return {
        "output_dir": str(out / "checkpoints"),
        "learning_rate": section.learning_rate,
        "lr_scheduler_type": section.lr_scheduler_type,
        "warmup_steps": section.warmup_steps,
        "logging_steps": section.logging_steps,
        **saving,
        "save_total_limit": section.save_total_limit,
        "gradient_checkpointing": cfg.model.gradient_checkpointing,
        "report_to": tracking.report_to(cfg),
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "dataloader_num_workers": 0,
        **precision_args(device),
        **trainer_args(out),
        **changed,
    }


class TrainingStage:
    """One training stage's run of its trainer, in four calls::

        stage = TrainingStage(cfg, run, "sft")                   # seeded; device, folders, checkpoint to resume
        args = SFTConfig(**stage.trainer_args(cfg.sft), ...)     # the arguments every stage sets alike
        with stage.training():                                  # W&B run, stop signals
            result = stage.train(SFTTrainer(..., callbacks=stage.callbacks()))
        model_dir, metrics = stage.save(tokenizer, base)         # <stage>/model, the common metrics

    Leaving :meth:`training` after a stop signal raises :class:`Interrupted` (a checkpoint was saved); every
    process of a multi-process stage makes the same calls.
    """

    def __init__(self, cfg, run, name: str) -> None:
        seed_everything(cfg.seed)
        self.cfg, self.run, self.name = cfg, run, name
        self.device = resolve_device(cfg.device)
        self.out = run.stage_dir(name)
        self.checkpoints = self.out / "checkpoints"
        self.resume = last_complete_checkpoint(self.checkpoints)
        self.interrupt = SaveOnInterrupt()
        self.trainer = self.result = None

    def trainer_args(self, section, **changed) -> dict:
        """:func:`trainer_arguments` for this stage."""
        return trainer_arguments(self.cfg, section, self.out, self.device, **changed)

    def callbacks(self, *more: TrainerCallback) -> list[TrainerCallback]:
        """The trainer's callbacks: the stop-signal handler, then ``more``."""
        return [self.interrupt, *more]

    @contextlib.contextmanager
    def training(self):
        """The stage's W&B run and stop-signal handling, around the trainer's construction and ``train``."""
        with tracking.stage_run(self.cfg, self.run, self.name), self.interrupt:
            yield self
        self.interrupt.raise_if_requested(self.name, self.trainer.state.global_step if self.trainer else 0)

    def train(self, trainer):
        """``trainer.train()``, from the last complete checkpoint if there is one; its ``TrainOutput``."""
        self.trainer = trainer
        self.result = trainer.train(resume_from_checkpoint=self.resume)
        return self.result

    def save(
        self, tokenizer, base: str, plot: tuple[str, list[str], str] | None = None, model_class=None, **model_kwargs
    ) -> tuple[Path, dict]:
        """Save the trained model as ``<stage>/model`` (:func:`save_trained`) and, on rank 0, the training curves
        of ``plot`` (file name, logged keys, title); return the folder and the metrics every training stage
        reports: steps, the checkpoint resumed from, seconds per step, each process's peak memory, trainable
        parameters and optimizer state."""
        trainer, lora = self.trainer, self.cfg.model.lora
        memory = from_every_process(round(peak_memory_mib(self.device), 1))
        model_dir = save_trained(trainer, self.out, tokenizer, lora, base, model_class, **model_kwargs)
        if plot and is_main_process():
            file, keys, title = plot
            tracking.plot_training_curves(trainer.state.log_history, self.out / file, keys, title)
        return model_dir, {
            "steps": self.result.global_step,
            "resumed_from": self.resume,
            "seconds_per_step": seconds_per_step(self.result, self.resume),
            "peak_memory_mib": memory,  # per training process, in rank order
            **parameter_metrics(trainer, lora),
        }
