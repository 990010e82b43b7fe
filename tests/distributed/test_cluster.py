"""The tasks of a multi-node job: which one leads, what each does, and the requests between them (real
processes and files; the Slurm jobs themselves are in tests/integration/test_slurm.py)."""

import json
import socket
import sys
import threading
import time
import urllib.request

import pytest
from omegaconf import OmegaConf

from rlreason.config import RLReasonConfig
from rlreason.distributed import cluster, follower
from rlreason.errors import UserError


def _cfg(tmp_path, **overrides):
    cfg = OmegaConf.structured(RLReasonConfig)
    cfg.run_dir = str(tmp_path)
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def _slurm(monkeypatch, tasks: int, task: int, restarts: int = 0):
    for key, value in {
        "SLURM_JOB_ID": "42",
        "SLURM_NTASKS": tasks,
        "SLURM_PROCID": task,
        "SLURM_RESTART_COUNT": restarts,
    }.items():
        monkeypatch.setenv(key, str(value))


def test_a_run_outside_slurm_or_on_one_task_is_its_own_leader(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert cluster.layout(_cfg(tmp_path)) == cluster.Layout()
    _slurm(monkeypatch, 1, 0)
    lay = cluster.layout(_cfg(tmp_path))
    assert lay.is_leader and lay.folder is None and lay.train_tasks == 1


def test_the_tasks_of_a_job_split_into_a_leader_trainers_and_a_vllm_server(tmp_path, monkeypatch):
    _slurm(monkeypatch, 4, 3, restarts=2)
    lay = cluster.layout(
        _cfg(
            tmp_path,
            **{"cluster.nodes": 4, "cluster.vllm_nodes": 1, "rollout.mode": "server", "distributed.strategy": "zero3"},
        )
    )
    assert (lay.tasks, lay.train_tasks, lay.vllm_task) == (4, 3, 3)
    assert lay.serves_vllm and not lay.is_leader
    assert lay.folder == tmp_path / "cluster" / "42.2"  # a requeued job's attempt has a folder of its own


@pytest.mark.parametrize(
    "overrides, tasks, message",
    [
        (
            {"cluster.nodes": 2},
            None,
            r"cluster.nodes=2, but this is not a Slurm job: submit with hydra/launcher=slurm_multinode",
        ),
        (
            {"cluster.nodes": 4, "distributed.strategy": "zero2"},
            2,
            r"cluster.nodes=4, but this Slurm job has 2 task\(s\)",
        ),
        ({"cluster.nodes": 2, "cluster.vllm_nodes": 1}, 2, r"cluster.vllm_nodes=1 .*set rollout=vllm_server"),
        ({"cluster.nodes": 2}, 2, r"trains on 2 nodes: pick a ZeRO strategy"),
    ],
)
def test_a_layout_that_does_not_fit_the_job_names_the_key(tmp_path, monkeypatch, overrides, tasks, message):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    if tasks:
        _slurm(monkeypatch, tasks, 0)
    with pytest.raises(UserError, match=message):
        cluster.layout(_cfg(tmp_path, **overrides))


def test_bad_cluster_values_fail_naming_the_key():
    with pytest.raises(ValueError, match="cluster.vllm_nodes: got 2"):
        cluster.ClusterConfig(nodes=4, vllm_nodes=2)
    with pytest.raises(ValueError, match=r"cluster.vllm_nodes=1 needs cluster.nodes >= 2"):
        cluster.ClusterConfig(vllm_nodes=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_vllm_follower_serves_on_request_answers_with_its_url_stops_and_ends(tmp_path):
    """A follower in a thread against the requests a leader writes: the "server" is a real HTTP server process."""
    leader = cluster.Layout(tasks=2, task=0, vllm_tasks=1, folder=tmp_path / "attempt")
    task_1 = cluster.Layout(tasks=2, task=1, vllm_tasks=1, folder=leader.folder)
    exit_code = []
    with cluster.leading(leader):
        thread = threading.Thread(target=lambda: exit_code.append(follower.follow(task_1, heartbeat_timeout_s=60)))
        thread.start()
        port = _free_port()
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
        serve = cluster.post(leader, "serve", argv=argv, env={}, port=port, log=str(tmp_path / "server.log"))
        reply = cluster.wait_reply(leader, serve, 1, 30, "serving")
        assert reply["url"] == f"http://{cluster.host()}:{port}"
        deadline = time.monotonic() + 30
        while True:  # the follower's server answers
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        stop = cluster.post(leader, "stop", serve=serve)
        assert cluster.wait_reply(leader, stop, 1, 60, "stopping") == {"stopped": True}
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    thread.join(timeout=30)
    assert exit_code == [0]  # leading() said "end" on its way out
    kinds = [json.loads(p.read_text())["kind"] for p in sorted(leader.folder.glob("[0-9][0-9][0-9][0-9][0-9].json"))]
    assert kinds == ["serve", "stop", "end"]


def test_a_follower_whose_leader_stopped_beating_gives_up(tmp_path):
    lay = cluster.Layout(tasks=2, task=1, folder=tmp_path)
    (tmp_path / "heartbeat").write_text(json.dumps({"time": time.time() - 100}))
    assert follower.follow(lay, heartbeat_timeout_s=10) == 1


def test_a_heartbeat_read_while_the_leader_writes_it_is_never_stale(tmp_path):
    """A follower polls the heartbeat file while the leader rewrites it; a torn read (an empty file) once made a
    follower of a live leader give up."""
    lay = cluster.Layout(tasks=2, task=0, folder=tmp_path)
    with cluster.leading(lay):
        beat, done = tmp_path / "heartbeat", time.monotonic() + 2
        while not beat.exists():
            time.sleep(0.01)
        writer = threading.Thread(
            target=lambda: [cluster.write_json(beat, {"time": time.time()}) for _ in range(20_000)]
        )
        writer.start()
        stale = 0
        while writer.is_alive() or time.monotonic() < done:
            stale += follower._leader_gone(lay, time.monotonic(), timeout_s=60)
        writer.join()
    assert stale == 0


def test_a_reply_that_never_comes_names_the_task_and_the_request(tmp_path):
    lay = cluster.Layout(tasks=2, task=0, folder=tmp_path)
    number = cluster.post(lay, "serve", argv=[], env={}, port=1, log="x")
    with pytest.raises(RuntimeError, match=r"task 1 did not answer within 1 s \(starting\).*00000.json"):
        cluster.wait_reply(lay, number, 1, 1, "starting")


def test_a_launcher_whose_peer_failed_is_stopped_instead_of_waiting_for_it(tmp_path):
    """The leader's node waits in the rendezvous for a node whose launcher already failed; its supervisor kills it."""
    from rlreason.distributed.launch import supervise

    asked = []

    def peer_failed():
        asked.append(time.monotonic())
        return len(asked) > 2

    start = time.monotonic()
    code, signals = supervise(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        {"RLREASON_PID_DIR": str(tmp_path / "pids")},
        "sft",
        peer_failed,
    )
    assert code == -9 and signals == [] and time.monotonic() - start < 60


def test_the_multinode_launcher_preset_asks_slurm_for_cluster_nodes_with_one_task_each():
    from hydra import compose, initialize_config_module

    from rlreason.config import CONFIG_MODULE, register_schema

    register_schema()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = compose(
            "config",
            ["hydra/launcher=slurm_multinode", "cluster.nodes=3", "cluster.gpus_per_node=4"],
            return_hydra_config=True,
        )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (3, 1, 4)
    assert (
        launcher["additional_parameters"] == {"requeue": True} and launcher["max_num_timeout"] == 3
    )  # as the slurm preset
