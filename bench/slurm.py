"""Slurm overhead: the tiny pipeline run directly (``rlreason <overrides>``, the baseline) and submitted through
``hydra/launcher=slurm`` to a one-node Slurm on this machine (``jobs/local_slurm.sh``, started here unless
``SLURM_CONF`` names a running one), in one script: submit-to-completion seconds of each, as measured by the
submitting command, and the ratio. Ends with one JSON line::

    {"direct_s": ..., "slurm_s": ..., "overhead_s": ..., "ratio": ...}

Usage: python bench/slurm.py   (root, or slurm-wlm and munge installed)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "logger=none",
    "rollout=hf",
    "sft.max_steps=4",
    "grpo.max_steps=2",
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
ON_THIS_NODE = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=2",
    "hydra.launcher.mem_gb=8",
    "hydra.launcher.timeout_min=30",
]


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:6])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    env = dict(os.environ)
    started = "SLURM_CONF" not in env
    if started:
        env["RLREASON_SLURM_DIR"] = str(work / "slurm")
        subprocess.run(["bash", str(ROOT / "jobs" / "local_slurm.sh"), "start"], check=True, env=env)
        env.update(
            {"SLURM_CONF": str(work / "slurm" / "slurm.conf"), "PATH": f"{work / 'slurm' / 'bin'}:{env['PATH']}"}
        )
    try:
        rlreason = [sys.executable, "-m", "rlreason"]
        direct = timed([*rlreason, f"run_dir={work / 'direct'}", *TINY], env)
        slurm = timed([*rlreason, "-m", *ON_THIS_NODE, f"hydra.sweep.dir={work / 'slurm_run'}", *TINY], env)
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "jobs" / "local_slurm.sh"), "stop"], env=env)
    for summary in (work / "direct" / "summary.json", work / "slurm_run" / "0" / "summary.json"):
        assert all(s["status"] == "completed" for s in json.loads(summary.read_text())["stages"].values())
    print(
        json.dumps(
            {
                "direct_s": round(direct, 1),
                "slurm_s": round(slurm, 1),
                "overhead_s": round(slurm - direct, 1),
                "ratio": round(slurm / direct, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
