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
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rlreason.errors import UserError
from rlreason.interrupt import STOP_SIGNALS

logger = logging.getLogger(__name__)

POLL_S = 0.5
HEARTBEAT_S = 5.0


@dataclass
class ClusterConfig:
    """``cluster``: the nodes of a Slurm job (one task each) and how they are split between training and vLLM."""

    nodes: int = 1  # the job's Slurm tasks, one per node (hydra/launcher=slurm_multinode asks Slurm for them)
    gpus_per_node: int = 1  # GPUs per node (Slurm's --gpus-per-node; 0 for CPU nodes): training processes per node on GPU
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
            raise ValueError(f"cluster.vllm_nodes=1 needs cluster.nodes >= 2 (one to train, one to serve); got {self.nodes}")


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
        where = f"this Slurm job has {tasks} task(s) (SLURM_NTASKS)" if env.get("SLURM_JOB_ID") else "this is not a Slurm job"
        raise UserError(
            f"cluster.nodes={c.nodes}, but {where}: submit with hydra/launcher=slurm_multinode cluster.nodes={c.nodes}, "
            f"or run one task per node (srun --ntasks-per-node=1) with cluster.nodes set to the number of nodes"
        )
    if c.vllm_nodes and cfg.rollout.mode.value != "server":
        raise UserError("cluster.vllm_nodes=1 serves GRPO's rollouts from its own node: set rollout=vllm_server")
    train_tasks = tasks - c.vllm_nodes
    if train_tasks > 1 and cfg.distributed.strategy.value == "single":
        raise UserError(f"cluster.nodes={tasks} trains on {train_tasks} nodes: pick a ZeRO strategy (distributed=zero2 or zero3)")
    attempt = f"{env['SLURM_JOB_ID']}.{env.get('SLURM_RESTART_COUNT', '0')}"
    return Layout(tasks, int(env.get("SLURM_PROCID", 0)), c.vllm_nodes, Path(run_dir or cfg.run_dir) / "cluster" / attempt)


def host() -> str:
    """This node's name as the others reach it (Slurm's node names resolve on every node of a cluster)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


# ----------------------------------------------------------------------------------------------- requests


def _write_json(path: Path, value: dict) -> None:
    """Write ``value`` so that a reader sees all of it or nothing (a rename within one folder)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
                f"cluster: task {task} did not answer within {timeout_s:.0f} s ({what}); is it running? its request is {lay.folder}/{number:05d}.json"
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
            _write_json(beat, {"time": time.time()})  # whole or not at all: a follower never reads a torn beat
            stop.wait(HEARTBEAT_S)

    thread = threading.Thread(target=heartbeat, daemon=True, name="cluster-heartbeat")
    thread.start()
    logger.info("cluster: %d tasks (%d training, %d serving vLLM); this task leads", lay.tasks, lay.train_tasks, lay.vllm_tasks)
    try:
        yield
    finally:
        post(lay, "end")
        stop.set()
        thread.join()


# ----------------------------------------------------------------------------------------------- following


def follow(lay: Layout, heartbeat_timeout_s: float) -> int:
    """A follower's life: do what the leader asks until it says ``end``; the exit code."""
    from rlreason.distributed.launch import on_node, supervise

    logger.info("cluster: task %d of %d follows task 0 (%s)%s", lay.task, lay.tasks, lay.folder, "; serves vLLM" if lay.serves_vllm else "")
    servers: dict[int, subprocess.Popen] = {}
    started, number = time.monotonic(), 0
    previous = _leave_stop_signals_to_the_leader()
    try:
        while True:
            request_file = lay.folder / f"{number:05d}.json"
            if not request_file.exists():
                if _leader_gone(lay, started, heartbeat_timeout_s):
                    logger.error("cluster: the leader's heartbeat is older than %d s; stopping", heartbeat_timeout_s)
                    return 1
                time.sleep(POLL_S)
                continue
            request = json.loads(request_file.read_text())
            kind = request["kind"]
            if kind == "end":
                return 0
            if kind == "train" and lay.task < lay.train_tasks:
                argv = on_node(request["argv"], lay.task)
                env = {**os.environ, **request["env"], "RLREASON_PID_DIR": str(Path(request["pid_dir"]) / str(lay.task))}
                code, _ = supervise(argv, env, request["label"])
                _write_json(reply_path(lay, number, lay.task), {"exit_code": code, "host": host()})
            elif kind == "serve" and lay.serves_vllm:
                servers[number] = _serve(request)
                _write_json(reply_path(lay, number, lay.task), {"url": f"http://{host()}:{request['port']}"})
            elif kind == "stop" and lay.serves_vllm and request["serve"] in servers:
                stop_process(servers.pop(request["serve"]))
                _write_json(reply_path(lay, number, lay.task), {"stopped": True})
            number += 1
    finally:
        for process in servers.values():
            stop_process(process)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _leave_stop_signals_to_the_leader() -> dict:
    """Slurm signals every task of a job (a time limit's USR1, scancel's TERM): a follower does not stop on its
    own, which would fail the job step under the leader, but waits for the leader's ``end`` (training ranks on
    its node are signalled by their launcher's supervisor and agree with the others when to stop)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return {}

    def note(signum, frame):
        logger.warning("%s: task 0 decides when the job stops; this task follows it", signal.Signals(signum).name)

    return {signum: signal.signal(signum, note) for signum in STOP_SIGNALS}


def _leader_gone(lay: Layout, started: float, timeout_s: float) -> bool:
    beat = lay.folder / "heartbeat"
    if not beat.exists():  # the leader may still be starting up (imports, pre-flight)
        return time.monotonic() - started > timeout_s
    return time.time() - json.loads(beat.read_text())["time"] > timeout_s


def _serve(request: dict) -> subprocess.Popen:
    logger.info("cluster: serving vLLM on %s:%s (log: %s)", host(), request["port"], request["log"])
    with open(request["log"], "w") as handle:
        return subprocess.Popen(request["argv"], stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **request["env"]}, start_new_session=True)


def stop_process(process: subprocess.Popen) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it has not exited within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
