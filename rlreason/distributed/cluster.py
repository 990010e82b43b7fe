"""``cluster``: a run across the tasks of one Slurm job, one task per node.

Slurm (``srun``, or submitit under ``hydra/launcher=slurm_multinode``) starts the same ``rlreason`` command
once per node. Task 0 (the *leader*) runs the pipeline as on one machine; the other tasks (*followers*) run no
stage of their own: they wait for what the leader asks of them, through small JSON files in
``<run_dir>/cluster/<job>.<restart>/`` (the run dir is on a file system every node shares, as Slurm clusters
have):

- ``train``: a multi-process training stage spans the training nodes. Each training follower starts
  ``torch.distributed.run`` for its own node (``--nnodes``, ``--node_rank`` = its task, rendezvous at the
  leader's host) with the node's share of the processes; one launcher per node, never one inside another.
- ``serve`` / ``stop``: with ``cluster.vllm_nodes=1`` the last task serves vLLM for GRPO
  (``rollout=vllm_server``) and trains nothing, the layout TRL and open-r1 document: the leader asks it to
  start the server on the policy's checkpoint, reads back its URL, and stops it when the stage ends.
- ``end``: the pipeline is over (done, failed or stopped); every follower exits. A leader that died without
  saying so is noticed by its heartbeat going stale (``cluster.heartbeat_timeout_s``).

Requests are numbered in order; a requeued job (a new ``SLURM_RESTART_COUNT``) starts a fresh folder, so a
follower never acts on an old attempt's requests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rlreason.errors import UserError

logger = logging.getLogger(__name__)

POLL_S = 0.5
HEARTBEAT_S = 5.0


@dataclass
class ClusterConfig:
    """``cluster``: the nodes of a Slurm job (one task each) and how they are split between training and vLLM."""

    nodes: int = 1  # the job's Slurm tasks, one per node (hydra/launcher=slurm_multinode asks Slurm for them)
    gpus_per_node: int = (
        1  # GPUs per node (Slurm's --gpus-per-node; 0 for CPU nodes): training processes per node on GPU
    )
    vllm_nodes: int = 0  # 1: the last node serves vLLM for GRPO (rollout=vllm_server), the others train
    # A follower whose leader has not written its heartbeat for this long stops waiting (the leader died).
    heartbeat_timeout_s: int = 300

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise ValueError(f"cluster.nodes: got {self.nodes}; must be >= 1")
        if self.gpus_per_node < 0:
            raise ValueError(f"cluster.gpus_per_node: got {self.gpus_per_node}; must be >= 0")
        if self.vllm_nodes not in (0, 1):
            raise ValueError(f"cluster.vllm_nodes: got {self.vllm_nodes}; must be 0 or 1 (one vLLM server node)")
        if self.vllm_nodes and self.nodes < 2:
            raise ValueError(
                f"cluster.vllm_nodes=1 needs cluster.nodes >= 2 (one to train, one to serve); got {self.nodes}"
            )


@dataclass(frozen=True)
class Layout:
    """Which task of the job this process is, and what each task does."""

    tasks: int = 1  # Slurm tasks in the job (one per node)
    task: int = 0  # this one's (SLURM_PROCID)
    vllm_tasks: int = 0  # the last ``vllm_tasks`` tasks serve vLLM
    folder: Path | None = None  # the request folder of this job attempt; None for a one-task run

    @property
    def train_tasks(self) -> int:
        return self.tasks - self.vllm_tasks

    @property
    def is_leader(self) -> bool:
        return self.task == 0

    @property
    def vllm_task(self) -> int | None:
        return self.tasks - 1 if self.vllm_tasks else None

    @property
    def serves_vllm(self) -> bool:
        return self.task == self.vllm_task


def layout(cfg, run_dir: Path | str | None = None) -> Layout:
    """The layout of this process's job from its ``SLURM_*`` environment, checked against ``cfg.cluster``."""
    c, env = cfg.cluster, os.environ
    tasks = int(env.get("SLURM_NTASKS", 1)) if env.get("SLURM_JOB_ID") else 1
    if c.nodes == 1 and tasks == 1:
        return Layout()
    if c.nodes != tasks:
        where = (
            f"this Slurm job has {tasks} task(s) (SLURM_NTASKS)"
            if env.get("SLURM_JOB_ID")
            else "this is not a Slurm job"
        )
        raise UserError(
            f"cluster.nodes={c.nodes}, but {where}: "
            f"submit with hydra/launcher=slurm_multinode cluster.nodes={c.nodes}, "
            f"or run one task per node (srun --ntasks-per-node=1) with cluster.nodes set to the number of nodes"
        )
    if c.vllm_nodes and cfg.rollout.mode.value != "server":
        raise UserError("cluster.vllm_nodes=1 serves GRPO's rollouts from its own node: set rollout=vllm_server")
    train_tasks = tasks - c.vllm_nodes
    if train_tasks > 1 and cfg.distributed.strategy.value == "single":
        raise UserError(
            f"cluster.nodes={tasks} trains on {train_tasks} nodes: pick a ZeRO strategy (distributed=zero2 or zero3)"
        )
    attempt = f"{env['SLURM_JOB_ID']}.{env.get('SLURM_RESTART_COUNT', '0')}"
    return Layout(
        tasks, int(env.get("SLURM_PROCID", 0)), c.vllm_nodes, Path(run_dir or cfg.run_dir) / "cluster" / attempt
    )


def host() -> str:
    """This node's name as the others reach it (Slurm's node names resolve on every node of a cluster)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


# ----------------------------------------------------------------------------------------------- requests


def write_json(path: Path, value: dict) -> None:
    """Write ``value`` so that a reader sees all of it or nothing (a rename within one folder). The temporary
    file is this thread's own: two writers sharing one would rename each other's half-written file into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def post(lay: Layout, kind: str, **payload) -> int:
    """Ask the followers for ``kind`` (train | serve | stop | end); the request's number."""
    lay.folder.mkdir(parents=True, exist_ok=True)
    number = 0
    while True:
        target = lay.folder / f"{number:05d}.json"
        tmp = lay.folder / f".{number:05d}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"kind": kind, **payload}))
        try:
            os.link(tmp, target)  # atomic: fails if another process took this number first
        except FileExistsError:
            number += 1
            continue
        finally:
            tmp.unlink(missing_ok=True)
        logger.debug("cluster request %d: %s", number, kind)
        return number


def reply_path(lay: Layout, number: int, task: int) -> Path:
    return lay.folder / f"{number:05d}.task{task}.json"


def wait_reply(lay: Layout, number: int, task: int, timeout_s: float, what: str) -> dict:
    """Task ``task``'s answer to request ``number``; fails after ``timeout_s`` naming what was waited for."""
    path, deadline = reply_path(lay, number, task), time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"cluster: task {task} did not answer within {timeout_s:.0f} s ({what}); "
                f"is it running? its request is {lay.folder}/{number:05d}.json"
            )
        time.sleep(POLL_S)
    return json.loads(path.read_text())


@contextlib.contextmanager
def leading(lay: Layout):
    """Around the leader's pipeline: a heartbeat the followers watch, and ``end`` however the pipeline exits."""
    if lay.folder is None:
        yield
        return
    lay.folder.mkdir(parents=True, exist_ok=True)
    beat, stop = lay.folder / "heartbeat", threading.Event()

    def heartbeat():
        while not stop.is_set():
            write_json(beat, {"time": time.time()})  # whole or not at all: a follower never reads a torn beat
            stop.wait(HEARTBEAT_S)

    thread = threading.Thread(target=heartbeat, daemon=True, name="cluster-heartbeat")
    thread.start()
    logger.info(
        "cluster: %d tasks (%d training, %d serving vLLM); this task leads", lay.tasks, lay.train_tasks, lay.vllm_tasks
    )
    try:
        yield
    finally:
        post(lay, "end")
        stop.set()
        thread.join()


# ----------------------------------------------------------------------------------------------- following


def stop_process(process: subprocess.Popen) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it has not exited within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
