"""The cluster path against a real Slurm: jobs/local_slurm.sh starts a one-node cluster on 127.0.0.1 (munged,
slurmctld, slurmd), and rlreason submits to it through hydra-submitit-launcher as a user would."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "logger=none",
    "rollout=hf",
    "sft.max_steps=4",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=16",
    "data.reasoning.sft_size=32",
    "data.reasoning.grpo_size=8",
    "data.reasoning.test_size=4",
    "data.tool_calling.test_size=0",
    "data.safety.test_size=0",
    "eval.num_samples=0",
    "eval.max_new_tokens=16",
    "model.tiny_moe.tokenizer_corpus_size=200",
]
# what this one-node cluster can hold: no GPU, its 2 cores, a few GB
ON_THIS_NODE = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=2",
    "hydra.launcher.mem_gb=8",
    "hydra.launcher.timeout_min=30",
]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running local Slurm; its SLURM_CONF and PATH (with the scontrol-backed sacct) for the commands."""
    if os.geteuid() != 0 and not shutil.which("slurmctld"):
        pytest.skip("needs root to install slurm-wlm and munge (or them installed)")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "RLREASON_SLURM_DIR": str(state)}
    subprocess.run(["bash", str(ROOT / "jobs" / "local_slurm.sh"), "start"], check=True, env=env, timeout=600)
    env.update({"SLURM_CONF": str(state / "slurm.conf"), "PATH": f"{state / 'bin'}:{os.environ['PATH']}"})
    try:
        yield env
    finally:
        subprocess.run(["bash", str(ROOT / "jobs" / "local_slurm.sh"), "stop"], env=env, timeout=120)


def _rlreason(args, env, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "rlreason", *args], capture_output=True, text=True, env=env, cwd=ROOT, **kwargs
    )


def test_a_job_slurm_rejects_fails_at_once_with_slurms_reason(slurm, tmp_path):
    start = time.monotonic()
    done = _rlreason(
        ["-m", *ON_THIS_NODE, "hydra.launcher.partition=nope", f"hydra.sweep.dir={tmp_path}", *TINY], slurm, timeout=300
    )
    assert done.returncode != 0
    assert "Invalid partition name specified" in done.stdout + done.stderr
    assert time.monotonic() - start < 120  # not after waiting for a job that never ran


def test_a_sweep_runs_one_job_per_point_and_a_job_signalled_with_usr1_is_requeued_and_resumes(slurm, tmp_path):
    """seed=0,1: two Slurm jobs, each in its own run dir; the first is sent SIGUSR1 while GRPO trains (as Slurm
    does before the time limit): it saves, submitit requeues it, and the requeued job resumes in the same run
    dir without redoing the stages that completed. The launcher waits for both and reads their results."""
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlreason",
            "-m",
            *ON_THIS_NODE,
            f"hydra.sweep.dir={tmp_path}",
            *TINY,
            "grpo.max_steps=12",
            "grpo.save_steps=1000",
            "seed=0,1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=slurm,
        cwd=ROOT,
    )
    run_dir = tmp_path / "0"
    try:
        deadline = time.monotonic() + 300
        while not (logs := list(tmp_path.glob(".submitit/*/*_0_log.err"))):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(1)
        job = _wait_for_grpo_training(run_dir, logs[0], 12)["attempts"][0]["environment"]["slurm"]["job_id"]
        subprocess.run(["scancel", "--signal=USR1", job], check=True, env=slurm)
        _release_when_requeued(job, slurm)
        output, _ = launcher.communicate(timeout=900)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, output[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["attempts"]) == 2  # the requeued job is a second attempt in the same run dir
    assert [s["status"] for s in summary["stages"].values()] == ["completed"] * 4
    assert summary["stages"]["sft"]["attempt"] == 1 and summary["stages"]["init"]["attempt"] == 1  # not redone
    assert summary["stages"]["grpo"]["attempt"] == 2
    assert summary["stages"]["grpo"]["metrics"]["resumed_from"].endswith(tuple(f"checkpoint-{n}" for n in range(1, 12)))
    assert all(a["environment"]["slurm"]["job_id"] == job for a in summary["attempts"])  # the same job, requeued
    assert summary["attempts"][1]["environment"]["slurm"]["restart_count"] == 1
    # submitit returns once it has read the job's result; Slurm marks the job COMPLETED a moment later (the
    # status command, which answers in under a second, would otherwise still see it RUNNING)
    _wait_until_done(job, slurm, logs[0], timeout=120)
    status = _rlreason(["status", str(run_dir)], slurm, timeout=120)
    assert status.returncode == 0 and f"slurm job {job} (attempt 2, requeued 1 time): COMPLETED" in status.stdout
    grpo_line = next(line.split() for line in status.stdout.splitlines() if line.startswith("grpo "))
    assert grpo_line[1] == "completed" and grpo_line[3] == "2"

    other = json.loads((tmp_path / "1" / "summary.json").read_text())  # the second sweep point, its own job
    assert [s["status"] for s in other["stages"].values()] == ["completed"] * 4
    assert other["attempts"][0]["environment"]["slurm"]["job_id"] != job
    config = (tmp_path / "1" / "config.yaml").read_text()
    assert "seed: 1\n" in config and f"group: {tmp_path.name}\n" in config  # W&B groups a sweep by its folder


def _release_when_requeued(job: str, env: dict, timeout: float = 300) -> None:
    """Once Slurm has requeued ``job``, let it start now: slurmctld holds a requeued job for two minutes
    (Reason=BeginTime), which is right on a cluster and only slow here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True, env=env
        ).stdout
        if state.startswith("PENDING") and "BeginTime" in state:
            # Not within the second of the requeue: slurmd refuses a job credential issued in the same second
            # as the old one's revocation ("Job credential revoked"), and the job would fail instead of start.
            time.sleep(2)
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, env=env)
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job} was not requeued within {timeout:.0f} s")


def _wait_until_done(job: str, env: dict, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while "JobState=COMPLETED" not in (
        state := subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True, env=env).stdout
    ):
        assert "JobState=FAILED" not in state, f"{state}\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, state
        time.sleep(1)


def _wait_for_grpo_training(run_dir: Path, log: Path, steps: int, timeout: float = 600) -> dict:
    """The summary once GRPO is a step into training (its progress bar in ``log``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and (run_dir / "summary.json").exists():
            summary = json.loads((run_dir / "summary.json").read_text())
            if summary["stages"].get("grpo", {}).get("status") == "running" and f"/{steps} [" in log.read_text(
                errors="replace"
            ):
                return summary
        time.sleep(1)
    raise AssertionError(f"GRPO never started training; see {log}")


# r1.sbatch: one task; r1_multinode.sbatch: two tasks training GRPO together (ZeRO-2), where Slurm's signal
# reaches every process of the step, the launchers included, and both tasks' ranks must save at one step.
SBATCH_SCRIPTS = {
    "r1": (["--cpus-per-task=2"], []),
    "r1_multinode": (
        ["--ntasks-per-node=2", "--cpus-per-task=1"],
        ["rollout=hf", "distributed=zero2", "distributed.num_processes=2"],
    ),
}


@pytest.mark.parametrize("script", list(SBATCH_SCRIPTS))
def test_an_sbatch_script_passes_usr1_on_requeues_itself_and_resumes(slurm, tmp_path, script):
    run_dir, log = tmp_path / "run", tmp_path / "job.out"
    options, overrides = SBATCH_SCRIPTS[script]
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--nodes=1",
            "--gpus-per-node=0",
            *options,
            "--mem=8G",
            f"--output={log}",
            "--open-mode=append",
            str(ROOT / "jobs" / f"{script}.sbatch"),
            *TINY,
            "grpo.max_steps=12",
            "grpo.save_steps=1000",
            *overrides,
        ],
        capture_output=True,
        text=True,
        env={**slurm, "RUN_DIR": str(run_dir), "VLLM_NODES": "0"},
        cwd=ROOT,
        check=True,
    )
    job = submitted.stdout.strip()
    _wait_for_grpo_training(run_dir, log, 12)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True, env=slurm)  # what --signal=B:USR1 sends
    _release_when_requeued(job, slurm)
    _wait_until_done(job, slurm, log)
    summary = json.loads((run_dir / "summary.json").read_text())
    tasks = 2 if script == "r1_multinode" else 1
    assert [
        (a["environment"]["slurm"]["restart_count"], a["environment"]["slurm"]["tasks"]) for a in summary["attempts"]
    ] == [(0, tasks), (1, tasks)]
    assert [s["status"] for s in summary["stages"].values()] == ["completed"] * 4
    assert summary["stages"]["sft"]["attempt"] == 1 and summary["stages"]["grpo"]["attempt"] == 2
    assert summary["stages"]["grpo"]["metrics"]["resumed_from"]


# Two tasks of one job as two "nodes": this cluster has one node, so both tasks land on it; rlreason treats
# them as it treats one task per node (the leader's host is the rendezvous, each task its node's launcher).
TWO_TASKS = [
    "hydra/launcher=slurm_multinode",
    "cluster.nodes=2",
    "hydra.launcher.nodes=1",
    "hydra.launcher.tasks_per_node=2",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=8",
    "hydra.launcher.timeout_min=30",
]


def _requests(run_dir: Path) -> list[tuple[dict, dict]]:
    """The leader's requests to the followers of the job's one attempt, each with the reply it got."""
    (attempt,) = (run_dir / "cluster").iterdir()
    found = []
    for request in sorted(attempt.glob("[0-9][0-9][0-9][0-9][0-9].json")):
        replies = {
            int(r.name.split(".task")[1].split(".")[0]): json.loads(r.read_text())
            for r in attempt.glob(f"{request.stem}.task*.json")
        }
        found.append((json.loads(request.read_text()), replies))
    return found


def test_a_two_task_job_trains_one_stage_on_both_tasks_with_distinct_ranks(slurm, tmp_path):
    done = _rlreason(
        [
            "-m",
            *TWO_TASKS,
            f"hydra.sweep.dir={tmp_path}",
            *TINY,
            "pipeline.stages=[init,sft]",
            "distributed=zero2",
            "distributed.num_processes=2",
        ],
        slurm,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["status"] for s in summary["stages"].values()] == ["completed"] * 2
    assert summary["attempts"][0]["environment"]["slurm"]["tasks"] == 2
    assert len(summary["stages"]["sft"]["metrics"]["peak_memory_mib"]) == 2  # two training processes
    launch = (run_dir / "sft" / "distributed" / "launch.sh").read_text()
    assert "--nnodes=2" in launch and "--nproc_per_node=1" in launch
    # each task's launcher started one rank: rank 0 on the leader's node, rank 1 on the follower's
    pids = run_dir / "sft" / "distributed" / "pids"
    assert sorted(str(p.relative_to(pids)) for p in pids.glob("*/*")) == ["0/0", "1/1"]
    (train, replies), (end, _) = _requests(run_dir)
    assert train["kind"] == "train" and train["label"] == "sft" and replies[1]["exit_code"] == 0
    assert end["kind"] == "end"


def test_the_multinode_sbatch_script_serves_vllm_on_one_task_and_trains_grpo_on_the_other(slurm, tmp_path):
    run_dir, log = tmp_path / "run", tmp_path / "job.out"
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--nodes=1",
            "--ntasks-per-node=2",
            "--gpus-per-node=0",
            "--cpus-per-task=1",
            "--mem=8G",
            f"--output={log}",
            str(ROOT / "jobs" / "r1_multinode.sbatch"),
            *(o for o in TINY if o != "rollout=hf"),
            "pipeline.stages=[init,sft,grpo]",
            "rollout.server.port=8321",
            "grpo.max_steps=2",
        ],
        capture_output=True,
        text=True,
        env={**slurm, "RUN_DIR": str(run_dir)},
        cwd=ROOT,
        check=True,
    )
    _wait_until_done(submitted.stdout.strip(), slurm, log)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stages"]["grpo"]["status"] == "completed" and summary["stages"]["grpo"]["metrics"]["steps"] == 2
    kinds = [(request["kind"], replies) for request, replies in _requests(run_dir)]
    assert [k for k, _ in kinds] == ["serve", "stop", "end"]
    url = kinds[0][1][1]["url"]  # task 1 answered: the server runs on its node, reachable from the others
    assert url.endswith(":8321") and "127.0.0.1" not in url
    assert kinds[1][1][1] == {"stopped": True}
    log = (run_dir / "grpo" / "vllm_server.log").read_text()
    assert "POST /collective_rpc" in log  # the trainer's weights reached that server after each step
