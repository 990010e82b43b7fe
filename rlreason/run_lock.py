"""One writer per run dir: an exclusive lock on ``<run_dir>/run.lock``, held for the whole command.

Two commands on one run dir (a requeued job whose first attempt is still saving, sweep points that share a
dir, a second terminal) would both train, both write ``summary.json`` and the stages' folders, and leave one
run's checkpoint under the other's config. The pipeline's leader takes this lock before it reads the summary;
training ranks and the followers of a multi-node job never take it (they write only what the leader asks).

The lock is the kernel's (``fcntl.flock``): it goes with its holder, so a holder killed by ``kill -9`` or the
OOM killer leaves a file whose lock is free, and the next command takes it over, saying whose it was. The file
records the holder (pid, host, Slurm job id, start time) so a refusal can name it. Where the run dir is on a
file system shared by several hosts and the holder is another host's, this host cannot tell whether it is
alive: the command refuses unless ``resume.force_unlock=true``, which goes on without the lock. A requeued Slurm
attempt (``SLURM_RESTART_COUNT`` > 0) waits up to ``resume.lock_wait_s`` (default 120 s there, 0 elsewhere) for
the old attempt to let go.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from rlreason.errors import UserError

logger = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
REQUEUE_WAIT_S = 120


def holder_record() -> dict:
    """Who this process is, as the lock file records it."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def describe(holder: dict) -> str:
    job = f", Slurm job {holder['slurm_job_id']}" if holder.get("slurm_job_id") else ""
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}{job}, since {holder.get('started', '?')}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def wait_seconds(configured: int | None) -> float:
    """``resume.lock_wait_s``, or by default 120 s for a requeued Slurm attempt and 0 otherwise."""
    if configured is not None:
        return configured
    return REQUEUE_WAIT_S if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0 else 0


@contextlib.contextmanager
def run_dir_lock(run_dir: Path, force_unlock: bool = False, wait_s: int | None = None):
    """Hold the run dir's lock for the ``with`` block; raise ``UserError`` naming the holder when another live
    command has it."""
    path = Path(run_dir) / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds(wait_s)
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(path)
                if time.monotonic() < deadline:
                    time.sleep(1.0)
                    continue
                if holder.get("host") not in (None, socket.gethostname()) and force_unlock:
                    logger.warning(
                        "run_dir=%s: locked by %s, on another host; going on without the lock "
                        "(resume.force_unlock=true)",
                        run_dir,
                        describe(holder),
                    )
                    yield
                    return
                raise UserError(_refusal(run_dir, holder)) from None
        previous = read_holder(path)
        if previous.get("pid") and (previous.get("pid"), previous.get("host")) != (os.getpid(), socket.gethostname()):
            logger.info(
                "run_dir=%s: took over the lock of %s, which no longer holds it (it ended without letting go)",
                run_dir,
                describe(previous),
            )
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(holder_record()) + "\n").encode(), 0)
        os.fsync(descriptor)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)  # an unlocked, empty file: nobody holds the run dir
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _refusal(run_dir: Path, holder: dict) -> str:
    where = f"run_dir={run_dir}: another command is using it ({describe(holder)})"
    if holder.get("host") not in (None, socket.gethostname()):
        return (
            f"{where}, on another host, which this one cannot check. Wait for it to end; if it is gone for "
            "good, re-run with resume.force_unlock=true"
        )
    if holder.get("pid") and not alive(int(holder["pid"])):
        return (
            f"{where}, whose process has ended but whose lock is still held (a child process it left?); "
            "end that process"
        )
    return f"{where}. Wait for it to end, or use another run_dir"
