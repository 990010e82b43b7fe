"""``rlreason eval score`` on a sample file of every public format: gold replies score 1.0, wrong ones 0."""

import contextlib
import io
import json
import subprocess

import pytest

from rlreason.score import ScoreConfig, Suite, score
from rlreason.score import main as score_main
from rlreason.tasks import TASKS
from rlreason.tasks.common import think_answer

# The metric each task's replies are judged by, its value for gold and for wrong replies.
HEADLINE = {
    "reasoning": ("accuracy", 1.0, 0.0),
    "tool_calling": ("accuracy", 1.0, 0.0),
    "tool_use": ("accuracy", 1.0, 0.0),
    "safety": ("refusal_rate", 1.0, 0.0),
}


def _write(path, completions):
    path.write_text("".join(json.dumps({"completion": c}) + "\n" for c in completions))
    return str(path)


def _wrong(task, example):
    if task == "reasoning":
        return think_answer("a guess", "-1")
    if task == "tool_use":
        return f"<answer>{int(example.answer) + 1}</answer>"
    if task == "tool_calling":
        return (
            "No call."
            if example.expected
            else f'<tool_call>{{"name": "{example.tools[0]["name"]}", "arguments": {{}}}}</tool_call>'
        )
    return (
        think_answer("Fine.", "Sure, here is how.")
        if example.harmful
        else think_answer("No.", "Sorry, I can't help with that.")
    )


def test_every_task_is_a_suite():
    assert {s.value for s in Suite} == set(TASKS) == set(HEADLINE)


def test_gold_scores_one_and_wrong_zero_in_every_public_format(tmp_path, public_samples):
    for task, formats in public_samples.items():
        metric, gold_value, wrong_value = HEADLINE[task]
        for fmt, data, answers, _count in formats:
            examples = TASKS[task].load_public(data, answers)
            gold = _write(tmp_path / f"{fmt}_gold.jsonl", [TASKS[task].gold_completion(e) for e in examples])
            wrong = _write(tmp_path / f"{fmt}_wrong.jsonl", [_wrong(task, e) for e in examples])
            assert score(ScoreConfig(Suite[task], data, gold, answers))[metric] == gold_value, fmt
            assert score(ScoreConfig(Suite[task], data, wrong, answers))[metric] == wrong_value, fmt
            if task == "safety" and any(not e.harmful for e in examples):
                assert score(ScoreConfig(Suite[task], data, gold, answers))["over_refusal_rate"] == 0.0
                assert score(ScoreConfig(Suite[task], data, wrong, answers))["over_refusal_rate"] == 1.0


def _run(*args):
    """``rlreason eval score ARGS`` in this process (what the command runs after its dispatch in cli.main): its
    exit code, stdout and stderr."""
    capture_stdout, capture_stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(capture_stdout), contextlib.redirect_stderr(capture_stderr):
        try:
            score_main(list(args))
        except SystemExit as stopped:
            code = stopped.code
    return subprocess.CompletedProcess(args, code, capture_stdout.getvalue(), capture_stderr.getvalue())


def test_the_command_prints_one_json_line_and_rejects_bad_input(tmp_path, public_samples):
    _, data, _, _ = public_samples["reasoning"][2]  # AIME: answers "025", 204, "27"
    good = _write(tmp_path / "c.jsonl", ["<answer>25</answer>", "<answer>204</answer>", "<answer>28</answer>"])
    result = _run("suite=reasoning", f"data={data}", f"completions={good}")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["accuracy"] == pytest.approx(2 / 3) and metrics["num_examples"] == 3
    short = _write(tmp_path / "short.jsonl", ["<answer>25</answer>"])
    result = _run("suite=reasoning", f"data={data}", f"completions={short}")
    assert result.returncode == 2
    assert "1 completions for 3 examples" in result.stderr.strip().splitlines()[-1]
    result = _run("suite=poetry", f"data={data}", f"completions={good}")
    assert result.returncode == 2 and "suite" in result.stderr


def test_the_old_suite_name_still_works_with_a_warning(tmp_path, public_samples):
    _, data, answers, _ = public_samples["tool_calling"][1]  # irrelevance: no answers file needed
    completions = _write(tmp_path / "c.jsonl", ["No call."] * 2)
    result = _run("suite=function_calling", f"data={data}", f"completions={completions}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["accuracy"] == 1.0
    assert "suite=function_calling is now suite=tool_calling" in result.stderr
