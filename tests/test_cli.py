"""Renamed override keys keep working, with one warning line each."""

import pytest

from rlreason.config import compose, renamed


def test_old_keys_are_rewritten_to_their_new_names(capsys):
    args = renamed(
        [
            "data.arithmetic.shortcut_rate=0",
            "data.sft_size=10",
            "eval.function_calling.limit=3",
            "+data.test_size=5",
            "seed=1",
        ]
    )
    assert args == [
        "data.reasoning.shortcut_rate=0",
        "data.reasoning.sft_size=10",
        "eval.tool_calling.limit=3",
        "+data.reasoning.test_size=5",
        "seed=1",
    ]
    warnings = capsys.readouterr().err.strip().splitlines()
    assert (
        len(warnings) == 4
        and warnings[0]
        == "rlreason: data.arithmetic.shortcut_rate is now data.reasoning.shortcut_rate; the old name will go away"
    )
    cfg = compose(args[:3])
    assert cfg.data.reasoning.shortcut_rate == 0 and cfg.eval.tool_calling.limit == 3


def test_the_rollout_stages_old_keys_move_to_their_section_and_the_engines_stay(capsys):
    args = renamed(["rollout.min_reward=0.5", "rollout.keep=best", "rollout.max_model_length=256"])
    assert args == ["rejection_sampling.min_reward=0.5", "rejection_sampling.keep=best", "rollout.max_model_length=256"]
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
    cfg = compose(args)
    assert cfg.rejection_sampling.min_reward == 0.5 and cfg.rollout.max_model_length == 256


def test_the_old_correction_switch_maps_onto_a_correction_mode(capsys):
    args = renamed(["rollout.importance_sampling_correction=true", "rollout.importance_sampling_correction=False"])
    assert args == ["grpo.importance_sampling.mode=sequence_mask", "grpo.importance_sampling.mode=off"]
    assert compose(args[:1]).grpo.importance_sampling.mode.value == "sequence_mask"


def test_current_keys_pass_unchanged(capsys):
    args = ["data.reasoning.sft_size=1", "data=file", "data.train_file=a.jsonl", "grpo.learning_rate=1e-5"]
    assert renamed(args) == args and capsys.readouterr().err == ""


def _rlreason(monkeypatch, *args) -> int:
    """``rlreason logger=none ARGS`` in this process (the command as a subprocess: tests/test_validation.py); its
    exit code."""
    import sys

    from rlreason.cli import main

    monkeypatch.setattr(sys, "argv", ["rlreason", "logger=none", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code


def _bad_inputs(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text('{"stages": ')
    return {
        "data file": (
            [
                f"run_dir={tmp_path / 'run'}",
                "data=file",
                f"data.train_file={tmp_path / 'nope.jsonl'}",
                "data.test_file=x",
            ],
            "rlreason: error: data.train_file=",
        ),
        "run dir is a file": ([f"run_dir={tmp_path / 'file'}"], "rlreason: error: run_dir="),
        "damaged summary": ([f"run_dir={tmp_path / 'broken'}"], "summary.json: not valid JSON"),
        "config key": (
            [f"run_dir={tmp_path / 'run'}", "grpo.num_generations=1"],
            "rlreason: config error: grpo.num_generations: got 1",
        ),
    }


@pytest.mark.parametrize("case", ["data file", "run dir is a file", "damaged summary", "config key"])
def test_user_errors_end_with_one_line_and_exit_2(tmp_path, case, monkeypatch, capsys):
    args, message = _bad_inputs(tmp_path)[case]
    code = _rlreason(monkeypatch, *args)
    stderr = capsys.readouterr().err
    assert code == 2, stderr[-3000:]
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("rlreason:")]
    assert len(errors) == 1 and message in errors[0], stderr[-3000:]
    assert not (tmp_path / "run" / "init").exists()  # nothing ran


def test_verbose_raises_the_user_error_with_its_traceback(tmp_path, monkeypatch):
    from rlreason.errors import MissingInput

    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # --verbose sets it; monkeypatch puts it back after
    args, _ = _bad_inputs(tmp_path)["data file"]
    monkeypatch.setattr("sys.argv", ["rlreason", "logger=none", "--verbose", *args])
    from rlreason.cli import main

    with pytest.raises(MissingInput, match="data.train_file="):
        main()


# What a command that does not train must not import: each costs seconds (torch alone ~1.5 s on 2 cores).
HEAVY = (
    "torch",
    "transformers",
    "trl",
    "vllm",
    "deepspeed",
    "datasets",
    "peft",
    "accelerate",
    "wandb",
    "math_verify",
    "matplotlib",
)
COMMANDS = {
    "bad override": (["grpo.lr=1"], 2, "rlreason: config error: grpo.lr: unknown key"),
    "config error": (["grpo.num_generations=1"], 2, "rlreason: config error: grpo.num_generations: got 1"),
    "--cfg job": (["--cfg", "job", "seed=3"], 0, "seed: 3"),
    "--help": (["--help"], 0, "model           deepseek_v2_lite, olmoe_1b_7b, pretrained"),
    "status": (["status", "RUN"], 2, "no summary.json"),
}
PROBE = """
import json, sys
from rlreason.cli import main
args, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["rlreason", *args]
try:
    main()
    code = 0
except SystemExit as stop:
    code = stop.code or 0
print(json.dumps({"code": code, "heavy": [name for name in heavy if name in sys.modules]}), file=sys.stderr)
"""


@pytest.mark.parametrize("case", sorted(COMMANDS))
def test_commands_that_do_not_train_import_no_training_library(case, tmp_path):
    """``--help``, ``--cfg job``, ``status``, a mistyped override and a config error answer without importing
    torch, TRL, vLLM or DeepSpeed (the stage that runs imports them), so they answer in about a second."""
    import json
    import subprocess
    import sys

    args, code, message = COMMANDS[case]
    args = [str(tmp_path) if a == "RUN" else a for a in args]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)], capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == code, done.stderr[-2000:]
    assert message in done.stdout + done.stderr
    assert report["heavy"] == []
