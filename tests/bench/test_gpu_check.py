"""bench/gpu_check.py without a GPU: the report has every field and says why nothing ran; bench/gpu_wheels.sh
names only packages whose versions constraints.txt pins."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402


def test_without_a_gpu_every_check_reports_why_and_the_script_exits_2(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--out", str(out)]
    process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert process.returncode == 2, process.stderr[-2000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report == json.loads(out.read_text())
    assert set(report) == {"device", "torch", "cuda", "checks", "seconds"} and report["device"] is None
    assert set(report["checks"]) == set(gpu_check.CHECKS) == set(gpu_check.FIELDS)
    for name, entry in report["checks"].items():
        assert set(entry) == {"ok", "seconds", "error", *gpu_check.FIELDS[name]}
        assert entry["ok"] is False and entry["error"].startswith("no CUDA device")


def test_every_check_has_a_share_of_the_time_budget():
    assert set(gpu_check.SHARES) == set(gpu_check.CHECKS) and sum(gpu_check.SHARES.values()) <= 1 + 1e-9


def test_the_wheels_script_asks_only_for_pinned_versions():
    script = (ROOT / "bench" / "gpu_wheels.sh").read_text()
    names = []
    for array in ("SOURCE_ONLY", "PACKAGES"):
        names += re.search(rf"{array}=\((.*?)\)", script, re.DOTALL).group(1).split()
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pinned = {re.sub(r"[-_]", "-", line.split("==")[0].lower()) for line in lines}
    assert "deepspeed" in names and "trl" in names
    assert [name for name in names if re.sub(r"[-_]", "-", name.lower()) not in pinned] == []
