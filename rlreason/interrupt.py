"""Stopping on request: Ctrl-C (SIGINT), SIGTERM (Slurm, Kubernetes, ``docker stop``) and SIGUSR1 or SIGUSR2
(which Slurm sends ahead of a time limit with ``--signal=USR1@<seconds>``) all mean the same thing.

During training the first signal finishes the current step, saves a checkpoint and stops, so a re-run resumes
from that step; a second one stops at once (one sent within ``SAME_STOP_S`` of the first is the same request
arriving twice, as when Slurm signals every process of a job step and a launcher forwards it too). In a
multi-process stage the processes agree after every step, so all of them stop at the same one. Outside training a signal stops the stage where it is. Either way
the stage is recorded as ``interrupted`` in ``summary.json`` and the process exits with the conventional code
(128 + the signal number: 130 for SIGINT, 143 for SIGTERM, 138 for SIGUSR1, 140 for SIGUSR2).

A handler that was installed before rlreason's gets the signal once the run has stopped cleanly
(:func:`hand_back`): under submitit (``hydra/launcher=slurm``) that is submitit's, which requeues the job on
SIGUSR1, so a preempted or timed-out job comes back and resumes from the checkpoint just saved.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

# A stop signal this soon after the first is the same request delivered twice, not a "stop now".
SAME_STOP_S = 2.0
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by ``signum``; a ``KeyboardInterrupt``, so code that cleans up on Ctrl-C
    (vLLM's engine, the managed vLLM server, W&B) cleans up for every stop signal."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum, frame) -> None:
    raise Interrupted(signum)


# The handlers stop_on_signals replaced, for hand_back once the run has stopped.
_replaced: dict[int, object] = {}


@contextlib.contextmanager
def stop_on_signals():
    """Within the block every stop signal raises :class:`Interrupted`; the previous handlers come back after."""
    previous = {signum: signal.signal(signum, _raise) for signum in STOP_SIGNALS}
    _replaced.update(previous)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def hand_back(stop: Interrupted) -> None:
    """Give the signal that stopped the run to the handler installed before rlreason's, if it is a program's
    own (submitit's requeue on SIGUSR1); Python's and the system's defaults are left out (the run has stopped)."""
    handler = _replaced.get(stop.signum)
    if callable(handler) and handler not in (signal.default_int_handler, _raise):
        logger.info("%s: handing it to the handler installed before rlreason's (%s)", signal.Signals(stop.signum).name,
                    getattr(handler, "__qualname__", handler))
        handler(stop.signum, None)


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
        if self.requested and time.monotonic() - self._since < SAME_STOP_S:
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

        from rlreason.distributed.config import collective_device

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
