"""The parent side of a multi-process training stage: launch the ranks, forward stop signals, read the result.

The ranks run under ``torch.distributed.run`` (one node, ``--nproc_per_node``), in a session of their own so
that only this process decides what a signal means: the first stop signal is sent to every rank, which
finish their step together, save and stop (the stage ends ``interrupted``, as in one process); a second one
stops them at once. Rank 0 writes the stage's result to ``<stage>/distributed/result.json``; the launch
command is kept next to the DeepSpeed config in ``<stage>/distributed/`` for anyone rerunning a stage by hand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

from rlreason.distributed.config import STOP_RESULT, Strategy, config_dir, world_size, write_deepspeed_config
from rlreason.interrupt import STOP_SIGNALS, Interrupted
from rlreason.stages.contract import StageResult

logger = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(cfg, run_dir: Path, label: str, processes: int) -> list[str]:
    port = cfg.distributed.master_port or free_port()
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={processes}",
        "--master_addr=127.0.0.1", f"--master_port={port}",
        "-m", "rlreason.distributed.worker", str(run_dir), label,
    ]


def run_stage(cfg, run, label: str, device: str) -> StageResult:
    """Run stage ``label`` on ``world_size`` processes; its result, or :class:`Interrupted` if stopped."""
    processes = world_size(cfg, device)
    folder = config_dir(run.dir / label)
    write_deepspeed_config(Strategy(cfg.distributed.strategy), run.dir / label)
    result_file = folder / "result.json"
    result_file.unlink(missing_ok=True)
    pid_dir = folder / "pids"
    pid_dir.mkdir(exist_ok=True)
    for stale in pid_dir.glob("*"):
        stale.unlink()
    argv = command(cfg, run.dir, label, processes)
    (folder / "launch.sh").write_text("#!/bin/sh\n# how rlreason started this stage's processes\n" + shlex.join(argv) + "\n")
    env = {**os.environ, "RLREASON_PID_DIR": str(pid_dir), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(_threads(processes)))}
    logger.info("stage %s: %d processes, %s (%s)", label, processes, Strategy(cfg.distributed.strategy).value, folder / "deepspeed.json")
    child = subprocess.Popen(argv, env=env, start_new_session=True)
    signals_seen: list[int] = []

    def forward(signum, frame):
        signals_seen.append(signum)
        pids = _worker_pids(pid_dir)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if not pids:  # still starting up: nothing to save yet, let the launcher stop them
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)
        if len(signals_seen) > 1:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        else:
            logger.warning("%s: stopping the %d processes of %s after their current step", signal.Signals(signum).name, processes, label)

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    outcome = json.loads(result_file.read_text()) if result_file.exists() else None
    if outcome and outcome.get(STOP_RESULT):
        raise Interrupted(outcome[STOP_RESULT], outcome.get("message", ""))
    if signals_seen:
        raise Interrupted(signals_seen[0], f"{label} stopped by {signal.Signals(signals_seen[0]).name}")
    if code != 0 or outcome is None:
        raise RuntimeError(f"stage {label}: a training process failed (exit code {code}); its traceback is above")
    return StageResult(checkpoint=outcome["checkpoint"], metrics=outcome["metrics"])


def _threads(processes: int) -> int:
    """Cores per process: the processes share the machine's cores instead of each taking them all."""
    return max(1, (os.cpu_count() or 1) // processes)


def _worker_pids(pid_dir: Path) -> list[int]:
    return [int(text) for text in (p.read_text().strip() for p in pid_dir.glob("*")) if text]
