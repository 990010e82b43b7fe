import json
import random
import re

import pytest

from rlreason.tasks.common import split_of
from rlreason.tasks.reasoning import (
    ReasoningConfig,
    ReasoningExample,
    accuracy,
    generate,
    gold_answer,
    is_correct,
    load_public,
    majority_answer,
    sampled_metrics,
    score,
    teacher_completion,
)


def _evaluate(step: str) -> tuple[int, int]:
    expression, result = step.split("=")
    return eval(expression), int(result)  # the steps are plain integer arithmetic


def test_problems_are_reproducible_from_the_seed():
    cfg = ReasoningConfig(max_steps=3)
    assert generate(cfg, "train", 50, seed=3) == generate(cfg, "train", 50, seed=3)
    assert generate(cfg, "train", 50, seed=3) != generate(cfg, "train", 50, seed=4)


def test_train_and_test_never_share_a_computation():
    cfg = ReasoningConfig(max_steps=3)
    train = {p.signature for p in generate(cfg, "train", 3000, seed=0)}
    test = {p.signature for p in generate(cfg, "test", 300, seed=0)}
    assert len(test) == 300
    assert not train & test
    assert all(split_of(s, cfg.test_fraction) == "test" for s in test)


def test_every_step_is_correct_arithmetic_and_ends_at_the_answer():
    cfg = ReasoningConfig(min_steps=2, max_steps=4, ops=["+", "-", "*"])
    for problem in generate(cfg, "train", 200, seed=1):
        for step in problem.steps:
            computed, written = _evaluate(step)
            assert computed == written and 0 <= written <= cfg.max_value
        assert int(problem.steps[-1].split("=")[1]) == problem.answer
        assert 2 <= len(problem.steps) <= 4
        assert problem.completion.endswith(f"<answer>{problem.answer}</answer>")


def test_teacher_takes_the_shortcut_only_on_long_problems_at_its_rate():
    cfg = ReasoningConfig(min_steps=2, max_steps=3, shortcut_rate=0.6, shortcut_min_steps=3)
    problems = generate(cfg, "train", 2000, seed=0)
    rng = random.Random(0)
    demos = [(p, teacher_completion(p, rng, cfg)) for p in problems]
    long = [(p, d) for p, d in demos if len(p.steps) == 3]
    assert all(d == p.completion for p, d in demos if len(p.steps) == 2)
    shortcut = [d for p, d in long if d != p.completion]
    assert 0.5 < len(shortcut) / len(long) < 0.7
    p, d = next((p, d) for p, d in long if d != p.completion)
    assert d.endswith(f"<answer>{p.values[-2]}</answer>") and p.steps[-1] not in d


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ops": ["/"]}, "data.reasoning.ops"),
        ({"min_steps": 3, "max_steps": 2}, "min_steps"),
        ({"shortcut_rate": 2}, "shortcut_rate"),
    ],
)
def test_bad_knobs_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReasoningConfig(**kwargs)


def test_asking_for_more_problems_than_exist_says_which_knobs_to_raise():
    with pytest.raises(ValueError, match="raise data.reasoning.max_steps"):
        generate(ReasoningConfig(max_start=2, max_operand=1, ops=["+"], max_steps=2), "train", 100, seed=0)


def test_accuracy_reads_strings_and_chat_messages_and_the_last_answer():
    completions = ["<think>1+1=2</think><answer>2</answer>", [{"role": "assistant", "content": "<answer>3</answer>"}]]
    assert accuracy(completions, answer=["2", "2"]) == [1.0, 0.0]
    assert accuracy(["<answer>3</answer> no, <answer>2</answer>"], answer=["2"]) == [1.0]
    assert accuracy(["<think>1+1=2</think>", "<answer></answer>", ""], answer=["2", "2", "2"]) == [0.0, 0.0, 0.0]
    assert accuracy(["<answer>2</answer>", "<tool_call>{}</tool_call>"], answer=["2", None]) == [1.0, None]


def test_equivalent_forms_match():
    assert is_correct("0.5", "1/2")
    assert is_correct("\\frac{1}{2}", "0.5")
    assert is_correct(" 12 ", "12")


@pytest.mark.parametrize(
    "stored, gold", [("025", "25"), (27.0, "27"), (204, "204"), (2.5, "2.5"), ("\\frac{3}{4}", "\\frac{3}{4}")]
)
def test_public_answers_are_read_as_their_value(stored, gold):
    assert gold_answer(stored) == gold


def test_score_and_sampled_metrics():
    examples = [ReasoningExample([], "2"), ReasoningExample([], "4")]
    result = score(["<think>1+1=2</think><answer>2</answer>", "<answer>5</answer>"], examples)
    assert (result.metrics["accuracy"], result.metrics["format_rate"]) == (0.5, 0.5)
    assert result.per_example == {"accuracy": [1.0, 0.0]}
    samples = [
        ["<answer>2</answer>", "<answer>3</answer>", "<answer>3</answer>"],  # pass, majority wrong
        ["<answer>4</answer>", "<answer>4.0</answer>", "<answer>5</answer>"],  # '4' and '4.0' tie with 5, first wins
    ]
    assert sampled_metrics(samples, examples) == {"pass_at_1": 3 / 6, "pass_at_k": 1.0, "maj_at_k": 0.5}
    assert majority_answer(samples[1]) == "4" and majority_answer(["", ""]) is None


def test_public_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "she sold many clips that day"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: GSM8K-style answer has no '#### <number>' line"):
        load_public(str(bad))
    bad.write_text('{"prompt": "q", "answer": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: invalid JSON"):
        load_public(str(bad))
    bad.write_text('{"text": "q", "answer": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: no question; expected a 'problem', 'question' or 'prompt'"):
        load_public(str(bad))


@pytest.mark.parametrize(
    "reply, correct",
    [
        ("<think>\n7+5=12, 12-3=9\n</think>\n\nThe answer is $\\boxed{9}$.", True),
        ("7+5=12 and 12-3=9.\n</think>\n\nSo Mia has 9 pens now.", True),
        ("Mia has 12 pens, then gives away 3, so she has 9 pens.", True),
        ("<think>\n7+5=12, so 12 pens.\n</think>\n\n12", False),
        ("<think>7+5=12 12-3=9 and the answer is 9", False),  # cut off inside the reasoning: no answer yet
    ],
)
def test_answers_in_a_pretrained_models_own_format_are_checked(reply, correct):
    example = ReasoningExample([], "9")
    assert accuracy(prompts=None, completions=[reply], answer=["9"]) == [float(correct)]
    metrics = score([reply], [example]).metrics
    assert metrics["accuracy"] == float(correct) and metrics["format_rate"] == 0.0
    assert metrics["answered_rate"] == float("cut off" not in reply and "and the answer is 9" not in reply)


def test_a_gsm8k_file_trains_sft_on_its_solutions_and_grades_its_final_number(tmp_path):
    from rlreason.config import compose
    from rlreason.tasks import reasoning

    rows = reasoning.gsm8k_rows(reasoning.ReasoningConfig(ops=["+", "-", "*"]), "train", 12, seed=0)
    assert all(re.fullmatch(r"(\d+[-+*]\d+=<<\d+[-+*]\d+=\d+>>\d+\. ?)+\n#### \d+", r["answer"]) for r in rows)
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose(["data=file", f"data.train_file={path}", f"data.test_file={path}", "data.prompt_column=question"])

    demonstrations = reasoning.sft_rows(cfg.data, 0)
    examples = reasoning.grpo_examples(cfg.data, 0)
    for row, demo, example in zip(rows, demonstrations, examples):
        solution, number = row["answer"].split("\n#### ")
        assert (
            demo["completion"][0]["content"]
            == f"<think>{re.sub(r'<<[^>]*>>', '', solution).strip()}</think><answer>{number}</answer>"
        )
        assert example.answer == number and reasoning.check(demo["completion"], example)
    assert [e.answer for e in reasoning.load_public(str(path))] == [e.answer for e in examples]  # one reading of '####'
