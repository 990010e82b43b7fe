"""``rlreason status RUN_DIR``: each stage's state from summary.json, and the Slurm job of the latest attempt."""

import json

import pytest

from rlreason.status import describe, main


def _run(tmp_path, attempts):
    summary = {
        "stages": {
            "init": {"status": "completed", "seconds": 2.0, "attempt": 1},
            "grpo": {"status": "interrupted", "seconds": 40.5, "attempt": 2},
        },
        "evals": {},
        "gates": [],
        "attempts": attempts,
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    return tmp_path


def test_stages_and_the_slurm_job_of_the_latest_attempt(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no scontrol here
    slurm = {"job_id": "12_0", "restart_count": 1}
    lines = describe(
        _run(tmp_path, [{"number": 1, "environment": {}}, {"number": 2, "environment": {"slurm": slurm}}])
    ).splitlines()
    assert lines[1].split() == ["init", "completed", "2.0", "1"] and lines[2].split() == [
        "grpo",
        "interrupted",
        "40.5",
        "2",
    ]
    assert lines[3] == "slurm job 12_0 (attempt 2, requeued 1 time): state unknown here (no scontrol on PATH)"


def test_a_run_outside_slurm_and_a_folder_that_is_no_run(tmp_path, capsys):
    assert (
        describe(_run(tmp_path, [{"number": 1, "environment": {}}])).splitlines()[-1]
        == "1 attempt(s), none in a Slurm job"
    )
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "nothing")])
    assert stop.value.code == 2 and "no summary.json; not a run dir" in capsys.readouterr().err
