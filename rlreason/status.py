"""``rlreason status RUN_DIR``: where a run stands, from its ``summary.json``, and the state of the Slurm job
that ran its latest attempt (asked of ``scontrol``, where it is on PATH).

    $ rlreason status runs/x
    stage         status       seconds  attempt
    init          completed        2.1        1
    sft           completed      294.0        1
    grpo          running          0.0        2
    slurm job 12_0 (attempt 2, requeued 1 time): RUNNING on node07

Exit code 0, or 2 when ``RUN_DIR`` holds no run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from rlreason.errors import EXIT_USER_ERROR


def slurm_state(job_id: str) -> str:
    """The job's state and nodes as the controller reports them, or why they cannot be known here."""
    if not shutil.which("scontrol"):
        return "state unknown here (no scontrol on PATH)"
    try:
        done = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "state unknown (scontrol did not answer in 30 s)"
    if done.returncode != 0 or not done.stdout.strip():
        return f"state unknown ({(done.stderr or done.stdout).strip() or 'the controller no longer lists it'})"
    record = dict(item.split("=", 1) for item in done.stdout.split() if "=" in item)
    nodes = record.get("NodeList") or ""
    return f"{record.get('JobState', '?')}{f' on {nodes}' if nodes and nodes != '(null)' else ''}"


def describe(run_dir: Path) -> str:
    summary = json.loads((run_dir / "summary.json").read_text())
    lines = [f"{'stage':<13} {'status':<12} {'seconds':>8}  {'attempt':>7}"]
    for label, entry in summary["stages"].items():
        lines.append(
            f"{label:<13} {entry['status']:<12} {entry.get('seconds', 0.0):>8.1f}  {entry.get('attempt', '-'):>7}"
        )
    attempts = summary.get("attempts", [])
    jobs = [a for a in attempts if a.get("environment", {}).get("slurm")]
    if jobs:
        latest = jobs[-1]
        job = latest["environment"]["slurm"]
        requeued = job.get("restart_count", 0)
        times = f", requeued {requeued} time{'s' if requeued != 1 else ''}" if requeued else ""
        lines.append(f"slurm job {job['job_id']} (attempt {latest['number']}{times}): {slurm_state(job['job_id'])}")
    elif attempts:
        lines.append(f"{len(attempts)} attempt(s), none in a Slurm job")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: rlreason status RUN_DIR", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    run_dir = Path(argv[0])
    if not (run_dir / "summary.json").is_file():
        print(f"rlreason: error: {run_dir}: no summary.json; not a run dir (or no stage has started)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    print(describe(run_dir))
