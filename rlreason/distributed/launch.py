"""The parent side of a multi-process training stage: launch the ranks, forward stop signals, read the result.

The ranks run under ``torch.distributed.run`` (``--nproc_per_node`` on each node; on more than one node the
other nodes' launchers are started by the job's follower tasks, :mod:`rlreason.distributed.follower`), in a
session of their own so that only this process decides what a signal means: the first stop signal is sent to
every rank, which
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
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from rlreason.distributed import cluster
from rlreason.distributed.config import STOP_RESULT, Strategy, world_size
from rlreason.distributed.zero import config_dir, write_deepspeed_config
from rlreason.errors import UserError
from rlreason.interrupt import SAME_STOP_S, STOP_SIGNALS, Interrupted
from rlreason.stages.contract import StageResult

logger = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(
    label: str, run_dir: Path, nnodes: int, nproc_per_node: int, master_addr: str, master_port: int, node_rank: int = 0
) -> list[str]:
    """``torch.distributed.run`` for node ``node_rank``'s share of a stage (the leader's node is rank 0)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={nnodes}",
        f"--node_rank={node_rank}",
        f"--nproc_per_node={nproc_per_node}",
        f"--master_addr={master_addr}",
        f"--master_port={master_port}",
        "-m",
        "rlreason.distributed.worker",
        str(run_dir),
        label,
    ]


def on_node(argv: list[str], node_rank: int) -> list[str]:
    """The leader's launch command ``argv`` as node ``node_rank`` runs it."""
    return [f"--node_rank={node_rank}" if a.startswith("--node_rank=") else a for a in argv]


def run_stage(cfg, run, label: str, device: str) -> StageResult:
    """Run stage ``label`` on ``world_size`` processes, across the job's training nodes under
    ``cluster.nodes`` > 1; its result, or :class:`Interrupted` if stopped."""
    lay = cluster.layout(cfg, run.dir)
    processes, nodes = world_size(cfg, device), lay.train_tasks
    if processes % nodes:
        raise UserError(
            f"distributed.num_processes={processes} does not split evenly "
            f"over the {nodes} training nodes (cluster.nodes)"
        )
    folder = config_dir(run.dir / label)
    write_deepspeed_config(Strategy(cfg.distributed.strategy), run.dir / label)
    result_file = folder / "result.json"
    result_file.unlink(missing_ok=True)
    pid_dir = folder / "pids"
    shutil.rmtree(pid_dir, ignore_errors=True)
    pid_dir.mkdir()
    per_node = processes // nodes
    master = cluster.host() if nodes > 1 else "127.0.0.1"
    argv = command(label, run.dir, nodes, per_node, master, cfg.distributed.master_port or free_port())
    (folder / "launch.sh").write_text(
        "#!/bin/sh\n# how rlreason started this stage's processes (on the first node)\n" + shlex.join(argv) + "\n"
    )
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(_threads(per_node)))}
    where = f" on {nodes} nodes" if nodes > 1 else ""
    logger.info(
        "stage %s: %d processes%s, %s (%s)",
        label,
        processes,
        where,
        Strategy(cfg.distributed.strategy).value,
        folder / "deepspeed.json",
    )
    request = cluster.post(lay, "train", label=label, argv=argv, env=env, pid_dir=str(pid_dir)) if nodes > 1 else None
    failed_follower = (lambda: _failed_follower(lay, request, nodes)) if request is not None else None
    code, signals_seen = supervise(
        argv, {**os.environ, **env, "RLREASON_PID_DIR": str(pid_dir / "0")}, label, failed_follower
    )
    for task in range(1, nodes):  # the followers' launchers end with the leader's (one rendezvous)
        reply = cluster.wait_reply(lay, request, task, cfg.distributed.timeout_s, f"its part of stage {label}")
        if reply["exit_code"] != 0 and not signals_seen:
            code = code or reply["exit_code"]
            logger.error(
                "stage %s: the processes on task %d (%s) exited with code %d; see that task's log",
                label,
                task,
                reply["host"],
                reply["exit_code"],
            )
    outcome = json.loads(result_file.read_text()) if result_file.exists() else None
    if outcome and outcome.get(STOP_RESULT):
        raise Interrupted(outcome[STOP_RESULT], outcome.get("message", ""))
    if signals_seen:
        raise Interrupted(signals_seen[0], f"{label} stopped by {signal.Signals(signals_seen[0]).name}")
    if code != 0 or outcome is None:
        raise RuntimeError(f"stage {label}: a training process failed (exit code {code}); its traceback is above")
    return StageResult(checkpoint=outcome["checkpoint"], metrics=outcome["metrics"])


def supervise(argv: list[str], env: dict, label: str, give_up=None) -> tuple[int, list[int]]:
    """Run one node's launcher ``argv`` in a session of its own, passing stop signals to its ranks (whose pid
    files are in ``env["RLREASON_PID_DIR"]``); its exit code, and the stop signals that came. ``give_up``, polled
    while it runs, says when to kill it (another node's part failed: this one would wait for it for ever)."""
    pid_dir = Path(env["RLREASON_PID_DIR"])
    pid_dir.mkdir(parents=True, exist_ok=True)
    # Slurm signals every process of a job step, the launcher included: torchrun must neither die of a USR1
    # nor stop its ranks on a TERM before they saved. It inherits "ignore" for the stop signals and handles
    # only SIGHUP/SIGQUIT; its ranks set their own handlers (rlreason.distributed.worker), so they save.
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        child = subprocess.Popen(
            argv, env={**env, "TORCHELASTIC_SIGNALS_TO_HANDLE": "SIGHUP,SIGQUIT"}, start_new_session=True
        )
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    signals_seen: list[int] = []
    first = [0.0]

    def forward(signum, frame):
        if signals_seen and time.monotonic() - first[0] < SAME_STOP_S:
            return  # the same stop, delivered twice
        signals_seen.append(signum)
        first[:] = [time.monotonic()]
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
            logger.warning(
                "%s: stopping the processes of %s after their current step", signal.Signals(signum).name, label
            )

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        while (code := child.poll()) is None:
            if give_up is not None and give_up():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                code = child.wait()
                break
            time.sleep(0.5)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code, signals_seen


def _failed_follower(lay, request: int, nodes: int) -> bool:
    for task in range(1, nodes):
        reply = cluster.reply_path(lay, request, task)
        if reply.exists() and json.loads(reply.read_text())["exit_code"] != 0:
            return True
    return False


def _threads(processes: int) -> int:
    """Cores per process: the processes share the machine's cores instead of each taking them all."""
    return max(1, (os.cpu_count() or 1) // processes)


def _worker_pids(pid_dir: Path) -> list[int]:
    return [int(text) for text in (p.read_text().strip() for p in pid_dir.glob("*")) if text]
