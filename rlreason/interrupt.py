"""Stopping on request: Ctrl-C (SIGINT), SIGTERM (Slurm, Kubernetes, ``docker stop``) and SIGUSR1 or SIGUSR2
(which Slurm sends ahead of a time limit with ``--signal=USR1@<seconds>``) all mean the same thing.

During training (:class:`rlreason.stages.training.SaveOnInterrupt`) the first signal finishes the current step,
saves a checkpoint and stops, so a re-run resumes from that step; a second one stops at once (one sent within
``SAME_STOP_S`` of the first is the same request arriving twice, as when Slurm signals every process of a job
step and a launcher forwards it too). In a multi-process stage the processes agree after every step, so all of
them stop at the same one. Outside training a signal stops the stage where it is. Either way
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

logger = logging.getLogger(__name__)

# A stop signal this soon after the first is the same request delivered twice, not a "stop now".
SAME_STOP_S = 2.0
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)


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
        logger.info(
            "%s: handing it to the handler installed before rlreason's (%s)",
            signal.Signals(stop.signum).name,
            getattr(handler, "__qualname__", handler),
        )
        handler(stop.signum, None)
