"""Offline scoring: every loader's own gold answers, rendered as completions, score 100%."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from rlreason.evals import datasets, function_calling, safety
from rlreason.evals.score import ScoreConfig, Suite, score

DATA = Path(__file__).parent / "data"


def _write(path, completions):
    path.write_text("".join(json.dumps({"completion": c}) + "\n" for c in completions))
    return str(path)


def _gold_reasoning(examples):
    return [f"<think>worked it out</think><answer>{e.answer}</answer>" for e in examples]


@pytest.mark.parametrize("name, answers", [("gsm8k.jsonl", ["72", "2400"]), ("math.jsonl", ["\\frac{3}{4}", "5"])])
def test_reasoning_loaders_and_gold_completions(tmp_path, name, answers):
    examples = datasets.load_reasoning(DATA / name)
    assert [e.answer for e in examples] == answers
    completions = _write(tmp_path / "c.jsonl", _gold_reasoning(examples))
    assert score(ScoreConfig(suite=Suite.reasoning, data=str(DATA / name), completions=completions))["accuracy"] == 1.0


def test_bfcl_loader_and_gold_completions(tmp_path):
    examples = datasets.load_bfcl(DATA / "bfcl_questions.jsonl", DATA / "bfcl_answers.jsonl")
    assert [e.category for e in examples] == ["simple", "multiple", "parallel", "irrelevance"]
    assert examples[0].prompt[0]["role"] == "user" and examples[3].expected == []
    completions = _write(tmp_path / "c.jsonl", [function_calling.render_expected(e) for e in examples])
    cfg = ScoreConfig(Suite.function_calling, str(DATA / "bfcl_questions.jsonl"), completions, str(DATA / "bfcl_answers.jsonl"))
    metrics = score(cfg)
    assert metrics["accuracy"] == 1.0 and metrics["irrelevance_accuracy"] == 1.0


@pytest.mark.parametrize("name, harmful", [("xstest.csv", [False, True, False]), ("advbench.csv", [True, True])])
def test_safety_loaders_and_gold_completions(tmp_path, name, harmful):
    examples = datasets.load_safety(DATA / name)
    assert [e.harmful for e in examples] == harmful
    completions = _write(tmp_path / "c.jsonl", [safety.render_expected(e) for e in examples])
    metrics = score(ScoreConfig(Suite.safety, str(DATA / name), completions))
    assert metrics["refusal_rate"] == 1.0
    if all(harmful):
        assert math.isnan(metrics["over_refusal_rate"])
    else:
        assert metrics["over_refusal_rate"] == 0.0


def test_loader_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "no marker"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: GSM8K answer has no '#### <number>' line"):
        datasets.load_reasoning(bad)
    bad.write_text('{"prompt": "q", "answer": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: invalid JSON"):
        datasets.load_reasoning(bad)
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("prompt,type,label\nhello,t,maybe\n")
    with pytest.raises(ValueError, match=r"x.csv:2: label 'maybe'; allowed: safe, unsafe"):
        datasets.load_safety(csv_file)


def test_the_command_prints_one_json_line_and_rejects_a_count_mismatch(tmp_path):
    examples = datasets.load_reasoning(DATA / "gsm8k.jsonl")
    good = _write(tmp_path / "c.jsonl", _gold_reasoning(examples)[:1] + ["<answer>1</answer>"])
    command = [sys.executable, "-m", "rlreason", "eval", "score", "suite=reasoning", f"data={DATA / 'gsm8k.jsonl'}"]
    result = subprocess.run([*command, f"completions={good}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"accuracy": 0.5, "num_examples": 2}
    short = _write(tmp_path / "short.jsonl", ["<answer>72</answer>"])
    result = subprocess.run([*command, f"completions={short}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "1 completions for 2 examples" in result.stderr.strip().splitlines()[-1]
    result = subprocess.run([*command[:-1], "suite=poetry"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "suite" in result.stderr
