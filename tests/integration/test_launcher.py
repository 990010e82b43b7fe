"""Cluster submission goes through submitit; its local launcher runs the very same path without Slurm."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_a_sweep_job_runs_through_submitit_into_its_own_run_dir(tmp_path):
    command = [
        sys.executable, "-m", "rlreason", "-m", "hydra/launcher=local", f"hydra.sweep.dir={tmp_path}",
        "logger=none", "seed=3", "sft.max_steps=4", "grpo.max_steps=1", "grpo.prompts_per_step=2",
        "grpo.num_generations=4", "grpo.max_completion_length=16", "data.reasoning.sft_size=32", "data.reasoning.grpo_size=8",
        "data.reasoning.test_size=4", "eval.num_samples=0", "eval.max_new_tokens=16", "model.tiny_moe.tokenizer_corpus_size=200",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Submitit 'local' sweep output dir" in result.stdout + result.stderr
    summary = json.loads((tmp_path / "0" / "summary.json").read_text())
    assert [s["status"] for s in summary["stages"].values()] == ["completed"] * 4
    config = (tmp_path / "0" / "config.yaml").read_text()
    assert config.count("seed: 3") == 1
    assert f"group: {tmp_path.name}\n" in config  # the W&B group of every run of the sweep: the sweep's folder
