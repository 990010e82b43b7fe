"""Renamed override keys keep working, with one warning line each."""

import pytest

from rlreason.cli import CONFIG_MODULE, renamed
from rlreason.validation import validate


def test_old_keys_are_rewritten_to_their_new_names(capsys):
    args = renamed(["data.arithmetic.shortcut_rate=0", "data.sft_size=10", "eval.function_calling.limit=3", "+data.test_size=5", "seed=1"])
    assert args == ["data.reasoning.shortcut_rate=0", "data.reasoning.sft_size=10", "eval.tool_calling.limit=3",
                    "+data.reasoning.test_size=5", "seed=1"]
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 4 and warnings[0] == "rlreason: data.arithmetic.shortcut_rate is now data.reasoning.shortcut_rate; the old name will go away"
    cfg = validate(CONFIG_MODULE, args[:3])
    assert cfg.data.reasoning.shortcut_rate == 0 and cfg.eval.tool_calling.limit == 3


def test_current_keys_pass_unchanged(capsys):
    args = ["data.reasoning.sft_size=1", "data=file", "data.train_file=a.jsonl", "grpo.learning_rate=1e-5"]
    assert renamed(args) == args and capsys.readouterr().err == ""


def _rlreason(*args, timeout=300):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "rlreason", "logger=none", *args], capture_output=True, text=True, timeout=timeout)


def _bad_inputs(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text('{"stages": ')
    return {
        "data file": ([f"run_dir={tmp_path / 'run'}", "data=file", f"data.train_file={tmp_path / 'nope.jsonl'}", "data.test_file=x"],
                      "rlreason: error: data.train_file="),
        "run dir is a file": ([f"run_dir={tmp_path / 'file'}"], "rlreason: error: run_dir="),
        "damaged summary": ([f"run_dir={tmp_path / 'broken'}"], "summary.json: not valid JSON"),
        "config key": ([f"run_dir={tmp_path / 'run'}", "grpo.num_generations=1"], "rlreason: config error: grpo.num_generations: got 1"),
    }


@pytest.mark.parametrize("case", ["data file", "run dir is a file", "damaged summary", "config key"])
def test_user_errors_end_with_one_line_and_exit_2(tmp_path, case):
    args, message = _bad_inputs(tmp_path)[case]
    result = _rlreason(*args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rlreason:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]
    assert not (tmp_path / "run" / "init").exists()  # nothing ran


def test_verbose_shows_the_traceback_of_a_user_error(tmp_path):
    args, _ = _bad_inputs(tmp_path)["data file"]
    result = _rlreason("--verbose", *args)
    assert result.returncode != 0 and "Traceback" in result.stderr and "MissingInput" in result.stderr
