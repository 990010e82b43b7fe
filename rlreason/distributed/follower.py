"""A follower's side of a multi-node job (:mod:`rlreason.distributed.cluster`): the tasks other than task 0 run
no stage of their own; they do what the leader's request files ask (start their node's training processes,
serve vLLM, stop it) until it says ``end`` or its heartbeat goes stale."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from rlreason.distributed.cluster import POLL_S, Layout, host, reply_path, stop_process, write_json
from rlreason.distributed.launch import on_node, supervise
from rlreason.interrupt import STOP_SIGNALS

logger = logging.getLogger(__name__)


def follow(lay: Layout, heartbeat_timeout_s: float) -> int:
    """A follower's life: do what the leader asks until it says ``end``; the exit code."""
    logger.info(
        "cluster: task %d of %d follows task 0 (%s)%s",
        lay.task,
        lay.tasks,
        lay.folder,
        "; serves vLLM" if lay.serves_vllm else "",
    )
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
                env = {
                    **os.environ,
                    **request["env"],
                    "RLREASON_PID_DIR": str(Path(request["pid_dir"]) / str(lay.task)),
                }
                code, _ = supervise(argv, env, request["label"])
                write_json(reply_path(lay, number, lay.task), {"exit_code": code, "host": host()})
            elif kind == "serve" and lay.serves_vllm:
                servers[number] = _serve(request)
                write_json(reply_path(lay, number, lay.task), {"url": f"http://{host()}:{request['port']}"})
            elif kind == "stop" and lay.serves_vllm and request["serve"] in servers:
                stop_process(servers.pop(request["serve"]))
                write_json(reply_path(lay, number, lay.task), {"stopped": True})
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
        return subprocess.Popen(
            request["argv"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **request["env"]},
            start_new_session=True,
        )
