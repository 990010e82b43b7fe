"""Ctrl-C during training: finish the current step, save a checkpoint, then stop, so a re-run resumes."""

from __future__ import annotations

import logging
import signal

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class SaveOnInterrupt(TrainerCallback):
    """A trainer callback that turns the first SIGINT into "save and stop"; a second one stops at once.

    Use as a context manager around ``trainer.train()`` so the previous SIGINT handler is restored.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "SaveOnInterrupt":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("interrupt: saving a checkpoint after this step (Ctrl-C again to stop now)")

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control
