"""The real pipeline (init → sft → grpo → eval) on a tiny budget, through the ``rlreason`` command."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from public_formats import write_public_samples
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

pytestmark = pytest.mark.integration

SAMPLES = {
    fmt: (data, answers)
    for formats in write_public_samples(Path(tempfile.mkdtemp())).values()
    for fmt, data, answers, _ in formats
}

TINY = [
    "sft.max_steps=60",
    "sft.warmup_steps=5",
    "sft.logging_steps=4",
    "grpo.max_steps=4",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=24",
    "grpo.logging_steps=1",
    "grpo.save_steps=2",
    "data.reasoning.sft_size=128",
    "data.reasoning.grpo_size=64",
    "data.reasoning.test_size=16",
    "data.tool_calling.sft_size=64",
    "data.tool_calling.test_size=8",
    "data.safety.sft_size=32",
    "eval.num_samples=2",
    "eval.max_new_tokens=24",
    "model.tiny_moe.tokenizer_corpus_size=300",
    f"eval.tool_calling.data={SAMPLES['bfcl'][0]}",
    f"eval.tool_calling.answers={SAMPLES['bfcl'][1]}",
    f"eval.safety.data={SAMPLES['xstest'][0]}",
]


def rlreason(run_dir: Path, *overrides: str, log: Path | None = None, **popen) -> subprocess.Popen:
    """``rlreason run_dir=RUN_DIR`` with the tiny budget; its output piped back, or written to ``log`` (for a
    command that is waited on without being read, which a full pipe would block)."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.Popen(
        [sys.executable, "-m", "rlreason", f"run_dir={run_dir}", *TINY, *overrides],
        stdout=open(log, "w") if log else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **popen,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


def wait_for(
    condition, process: subprocess.Popen, timeout: float = 600, poll: float = 0.1, log: Path | None = None
) -> None:
    """Wait until ``condition()`` holds while ``process`` runs; fail with its output (or ``log``) if it never does."""
    deadline = time.time() + timeout
    while not condition() and process.poll() is None and time.time() < deadline:
        time.sleep(poll)
    if not condition():
        output = finish(process)
        raise AssertionError((log.read_text() if log else output)[-4000:])


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory):
    """The tiny pipeline, run once for the tests that read it. While it trains, a second command is started on
    the same run dir (what a re-launch in another terminal or a sweep sharing a dir does): its output and exit
    code are kept for the lock test; the other tests check the first run is whole."""
    run_dir = tmp_path_factory.mktemp("r1")
    process = rlreason(run_dir)
    wait_for(lambda: (run_dir / "run.lock").is_file() and (run_dir / "run.lock").stat().st_size > 0, process)
    second = rlreason(run_dir)
    second_output = finish(second)
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    attempts = [a["number"] for a in json.loads((run_dir / "summary.json").read_text())["attempts"]]
    return run_dir, output, (process.pid, second.returncode, second_output, attempts)


def test_a_second_command_on_a_busy_run_dir_is_refused_naming_the_holder(completed_run):
    """The first command is unharmed: it records one attempt, its summary and config are its own, and the
    SIGTERM test below ends a lone resumed run with its weights, bit for bit."""
    run_dir, _, (first_pid, second_code, second_output, attempts) = completed_run
    assert second_code == 2, second_output[-4000:]
    assert f"run_dir={run_dir}: another command is using it (pid {first_pid} on" in second_output
    assert attempts == [1]  # the refused command recorded nothing
    assert not (run_dir / ".hydra").exists()  # Hydra's copy of the config would be written before the lock
    assert (run_dir / "run.lock").read_text() == ""  # let go when the first command ended


def test_summary_follows_the_contract(completed_run):
    run_dir, output, _ = completed_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary) == {"stages", "evals", "gates", "attempts"}
    assert list(summary["stages"]) == ["init", "sft", "grpo", "eval"]
    for entry in summary["stages"].values():
        assert set(entry) == {"status", "seconds", "checkpoint", "metrics", "attempt", "config_digest", "inputs"}
        assert entry["status"] == "completed" and entry["seconds"] > 0 and entry["attempt"] == 1
    assert list(summary["stages"]["grpo"]["inputs"]) == [
        str(run_dir / "init" / "model"),
        str(run_dir / "sft" / "model"),
    ]
    (attempt,) = summary["attempts"]
    assert (run_dir / attempt["config"]).is_file() and attempt["environment"]["packages"]["trl"]
    assert summary["stages"]["eval"]["checkpoint"] is None
    assert set(summary["evals"]) == {"init", "sft", "grpo"}
    for scores in summary["evals"].values():
        assert 0.0 <= scores["reasoning"]["accuracy"] <= 1.0
        assert scores["reasoning"]["num_problems"] == 16
    assert summary["stages"]["grpo"]["metrics"]["steps"] == 4
    assert summary["stages"]["grpo"]["metrics"]["rollout_engine"] == "vllm"  # the default wherever vLLM is installed
    agreement = summary["stages"]["grpo"]["metrics"]["moe"]["routing_agreement"]  # 2 sequences per generation
    assert agreement["tokens"] > 0 and agreement["mean"] > 0.99 and len(agreement["per_layer"]) == 2
    assert all(set(scores) == {"reasoning", "tool_calling", "safety"} for scores in summary["evals"].values())
    gated = {(g["checkpoint"], g["baseline"], g["suite"], g["metric"]) for g in summary["gates"]}
    assert gated == {
        ("grpo", "sft", "reasoning", "accuracy"),
        ("grpo", "sft", "tool_calling", "accuracy"),
        ("grpo", "sft", "safety", "refusal_rate"),
        ("grpo", "sft", "safety", "over_refusal_rate"),
    }
    assert all(isinstance(g["passed"], bool) and g["ci_low"] <= g["ci_high"] for g in summary["gates"])
    assert "| grpo | tool_calling | accuracy |" in (run_dir / "eval" / "gates.md").read_text()
    records = (run_dir / "eval" / "grpo" / "tool_calling.jsonl").read_text().splitlines()
    assert len(records) == 5 and all("reason" in json.loads(r) for r in records)
    assert f"summary: {run_dir / 'summary.json'}" in output
    assert "checkpoint   suite" in output and "gate " in output


def test_every_checkpoint_loads_with_transformers(completed_run):
    run_dir, _, _ = completed_run
    summary = json.loads((run_dir / "summary.json").read_text())
    for name in ("init", "sft", "grpo"):
        path = summary["stages"][name]["checkpoint"]
        AutoTokenizer.from_pretrained(path)
        assert AutoModelForCausalLM.from_pretrained(path).config.num_experts == 8


def test_sft_moves_the_policy_towards_the_format(completed_run):
    run_dir, _, _ = completed_run
    evals = json.loads((run_dir / "summary.json").read_text())["evals"]
    assert evals["init"]["reasoning"]["format_rate"] < evals["sft"]["reasoning"]["format_rate"]


def test_plots_and_offline_wandb_runs_are_written(completed_run):
    run_dir, _, _ = completed_run
    for png in ("sft/loss.png", "grpo/rewards.png", "eval/accuracy.png"):
        assert (run_dir / png).stat().st_size > 1000, png
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 3  # one per stage that trains or evaluates: sft, grpo, eval


def test_rerunning_a_completed_run_skips_every_stage(completed_run):
    run_dir, _, _ = completed_run
    before = json.loads((run_dir / "summary.json").read_text())
    process = rlreason(run_dir)
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    assert output.count("already completed") == 4
    assert json.loads((run_dir / "summary.json").read_text())["stages"] == before["stages"]


def test_grpo_stopped_by_sigterm_resumes_to_the_weights_of_an_uninterrupted_run(completed_run, tmp_path):
    """What Slurm, Kubernetes and ``docker stop`` send: the step finishes, a checkpoint is saved, exit 143; the
    re-run continues from that step and ends with the uninterrupted run's weights, experts included. This run
    measures no routing agreement (the uninterrupted one does): measuring changes nothing sampled or trained."""
    quiet = ("logger=none", "rollout.routing_agreement_samples=0")
    process = rlreason(tmp_path, *quiet)
    checkpoint = tmp_path / "grpo" / "checkpoints" / "checkpoint-2"
    wait_for(checkpoint.exists, process)
    process.send_signal(signal.SIGTERM)
    output = finish(process)
    assert process.returncode == 143, output[-4000:]
    assert "grpo stopped by SIGTERM at step" in output and "re-run with run_dir=" in output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stages"]["grpo"]["status"] == "interrupted"
    sft_seconds = summary["stages"]["sft"]["seconds"]
    saved = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "grpo" / "checkpoints").glob("checkpoint-*"))

    process = rlreason(tmp_path, *quiet)
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    grpo = summary["stages"]["grpo"]
    assert grpo["status"] == "completed" and grpo["metrics"]["steps"] == 4
    assert grpo["metrics"]["resumed_from"].endswith(f"checkpoint-{saved[-1]}")
    assert summary["stages"]["sft"]["seconds"] == sft_seconds  # not trained again
    assert [a["number"] for a in summary["attempts"]] == [1, 2] and grpo["attempt"] == 2
    # Tiny CPU runs are reproducible: this run's own SFT trained the uninterrupted run's weights, bit for bit
    for stage in ("sft", "grpo"):
        uninterrupted = load_file(completed_run[0] / stage / "model" / "model.safetensors")
        resumed = load_file(tmp_path / stage / "model" / "model.safetensors")
        assert all(torch.equal(resumed[name], weight) for name, weight in uninterrupted.items()), stage


def test_killed_during_saves_a_rerun_resumes_from_the_last_complete_checkpoint(completed_run, tmp_path):
    """``kill -9`` (the OOM killer, a lost node) leaves no chance to save or record anything: first while SFT
    writes its model, then while GRPO writes its last trainer checkpoint. Each re-run takes over the dead
    command's lock, passes over the half-written folder, and the last ends with the uninterrupted run's
    weights, bit for bit."""
    quiet = ("logger=none", "rollout.routing_agreement_samples=0", "pipeline.stages=[init,sft,grpo]")

    def killed_when(path: Path) -> subprocess.Popen:
        log = tmp_path / f"killed_{path.name}.log"
        process = rlreason(tmp_path, *quiet, log=log)
        wait_for(path.exists, process, poll=0.0005, log=log)  # the folder appears when its save starts
        process.kill()
        process.wait()
        return process

    first = killed_when(tmp_path / "sft" / "model.partial")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stages"]["sft"]["status"] == "running"  # nothing recorded it as done

    checkpoint = tmp_path / "grpo" / "checkpoints" / "checkpoint-4"
    second = killed_when(checkpoint)
    whole = (checkpoint / "trainer_state.json").exists()  # the trainer writes its state last
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == second.pid  # still "held" by the dead command

    process = rlreason(tmp_path, *quiet)
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    assert f"took over the lock of pid {second.pid}" in output
    grpo = json.loads((tmp_path / "summary.json").read_text())["stages"]["grpo"]
    assert grpo["status"] == "completed" and grpo["metrics"]["steps"] == 4
    assert grpo["metrics"]["resumed_from"].endswith("checkpoint-4" if whole else "checkpoint-2")
    if not whole:
        assert f"{checkpoint}: incomplete (no trainer_state.json" in output
    assert not list(tmp_path.glob("*/*.partial"))
    for stage in ("sft", "grpo"):
        uninterrupted = load_file(completed_run[0] / stage / "model" / "model.safetensors")
        resumed = load_file(tmp_path / stage / "model" / "model.safetensors")
        assert all(torch.equal(resumed[name], weight) for name, weight in uninterrupted.items()), stage
    assert first.returncode == second.returncode == -signal.SIGKILL


def test_synthetic_tool_calling_and_safety_suites_run_without_files(tmp_path):
    """Out of the box (no eval files) every checkpoint is scored on the held-out synthetic tool-calling and
    safety sets, and gated like the public-format suites."""
    process = rlreason(
        tmp_path,
        "logger=none",
        "eval.tool_calling.data=null",
        "eval.tool_calling.answers=null",
        "eval.safety.data=null",
        "pipeline.stages=[init,sft,eval]",
        "rollout=hf",
        "sft.max_steps=8",
        "eval.num_samples=0",
    )  # what is scored, not how well: a short SFT
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["evals"]["sft"]["tool_calling"]["num_examples"] == 8
    assert summary["evals"]["sft"]["safety"]["num_harmful"] > 0 and summary["evals"]["sft"]["safety"]["num_benign"] > 0
    records = [json.loads(r) for r in (tmp_path / "eval" / "sft" / "tool_calling.jsonl").read_text().splitlines()]
    assert {r["category"] for r in records} <= {"simple", "multiple", "parallel", "irrelevance"}


def test_the_eval_command_scores_a_list_of_checkpoints_against_the_first(completed_run, tmp_path):
    run_dir, _, _ = completed_run
    command = [
        sys.executable,
        "-m",
        "rlreason",
        "eval",
        f"eval.checkpoints=[{run_dir / 'sft' / 'model'},{run_dir / 'grpo' / 'model'}]",
        f"run_dir={tmp_path}",
        "logger=none",
        *TINY,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    original = json.loads((run_dir / "summary.json").read_text())["evals"]
    assert list(summary["stages"]) == ["eval"]
    assert list(summary["evals"]) == ["sft", "grpo"]
    for label in ("sft", "grpo"):  # greedy scores: the same checkpoint, data and decoding give the same numbers
        mine, theirs = summary["evals"][label], original[label]
        assert mine["reasoning"]["accuracy"] == theirs["reasoning"]["accuracy"]
        assert mine["tool_calling"]["accuracy"] == theirs["tool_calling"]["accuracy"]
        assert mine["safety"]["refusal_rate"] == theirs["safety"]["refusal_rate"]
    assert {(g["checkpoint"], g["baseline"]) for g in summary["gates"]} == {("grpo", "sft")}


def test_r1_full_runs_rejection_sampling_between_two_rounds_of_rl(tmp_path):
    process = rlreason(
        tmp_path,
        "logger=none",
        "pipeline=r1_full",
        "rejection_sampling.size=8",
        "rejection_sampling.num_completions=2",
        "rejection_sampling.keep=all",
        "sft.rejection_sampling.max_steps=4",
        "grpo.max_steps=2",
        "sft.max_steps=8",
        "eval.num_samples=0",
    )  # the stages' order and hand-offs, not learning
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["stages"]) == ["init", "sft", "grpo", "rollout", "sft_2", "grpo_2", "eval"]
    assert summary["stages"]["rollout"]["metrics"]["kept"] == 16
    assert summary["stages"]["sft_2"]["metrics"]["steps"] == 4
    assert set(summary["evals"]) == {"init", "sft", "grpo", "sft_2", "grpo_2"}
    assert {g["checkpoint"] for g in summary["gates"]} == {"grpo", "sft_2", "grpo_2"}
    assert {g["baseline"] for g in summary["gates"]} == {"sft"}
    assert (tmp_path / "rollout" / "rollouts.parquet").exists() and (tmp_path / "grpo_2" / "model").is_dir()


def test_a_checkpoint_by_path_is_evaluated_like_the_run_that_made_it(completed_run, tmp_path):
    run_dir, _, _ = completed_run
    grpo_model = run_dir / "grpo" / "model"
    process = rlreason(
        tmp_path, "logger=none", "model=pretrained", f"model.path={grpo_model}", "pipeline.stages=[init,eval]"
    )
    output = finish(process)
    assert process.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stages"]["init"]["checkpoint"] == str(grpo_model)
    original = json.loads((run_dir / "summary.json").read_text())["evals"]["grpo"]["reasoning"]["accuracy"]
    assert summary["evals"]["init"]["reasoning"]["accuracy"] == original
