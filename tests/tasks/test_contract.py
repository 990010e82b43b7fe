"""The contract every task of TASKS keeps: gold replies pass and wrong ones fail, through the checker, the
rewards and the scorer; other tasks' rows are left alone; train and test never meet; every public format it
claims to read is read."""

import json

import pytest

from rlreason.data.mixer import DataConfig, grpo_columns, row_tools
from rlreason.tasks import TASKS
from rlreason.tasks.common import think_answer
from rlreason.tasks.reasoning import ReasoningConfig
from rlreason.tasks.safety import REFUSAL, SafetyConfig
from rlreason.tasks.tool_calling import ToolCallingConfig
from rlreason.tasks.tool_use import ToolUseConfig

SMALL = DataConfig(
    reasoning=ReasoningConfig(sft_size=300, grpo_size=300, test_size=60),
    tool_calling=ToolCallingConfig(sft_size=300, grpo_size=300, test_size=60),
    safety=SafetyConfig(sft_size=200, grpo_size=200, test_size=60),
    tool_use=ToolUseConfig(sft_size=200, grpo_size=200, test_size=60),
)


def _wrong_tool_call(example):
    if example.expected:
        return "I will not call anything."
    return f'<tool_call>{{"name": "{example.tools[0]["name"]}", "arguments": {{}}}}</tool_call>'


# A reply each task must reject, per example; a new task adds its own here.
WRONG = {
    "reasoning": lambda e: think_answer("a guess", "-12345"),
    "tool_calling": _wrong_tool_call,
    "tool_use": lambda e: f"<answer>{int(e.answer) + 1}</answer>",
    "safety": lambda e: think_answer("Fine.", "Sure, here is how.") if e.harmful else REFUSAL,
}


def _examples(name):
    task = TASKS[name]
    return task.held_out_examples(SMALL, 0) + task.grpo_examples(SMALL, 0)


def _as_messages(texts):
    return [[{"role": "assistant", "content": t}] for t in texts]


def _reward_inputs(pairs):
    """TRL's reward keywords for (task name, example) pairs: every row with every task's columns."""
    rows = [{**grpo_columns(), **TASKS[name].row(example)} for name, example in pairs]
    return {"prompts": [r["prompt"] for r in rows], **{k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}}


def _assert_best(result, task, best: bool):
    """Every per-example score the task's gates read is at its best (or worst) value."""
    for metric, _, higher_is_better in task.gates:
        target = 1.0 if higher_is_better == best else 0.0
        assert all(v == target for v in result.per_example[metric]), (metric, result.per_example[metric])


def test_every_task_has_a_wrong_reply_and_public_samples(public_samples):
    assert set(WRONG) == set(TASKS) == set(public_samples)


@pytest.mark.parametrize("name", TASKS)
def test_gold_scores_one_and_wrong_zero_through_checker_rewards_and_score(name):
    task, examples = TASKS[name], _examples(name)
    golds, wrongs = [task.gold_completion(e) for e in examples], [WRONG[name](e) for e in examples]
    assert all(task.check(g, e) for g, e in zip(golds, examples))
    assert not any(task.check(w, e) for w, e in zip(wrongs, examples))
    inputs = _reward_inputs([(name, e) for e in examples])
    for reward in task.rewards.values():
        assert reward(completions=_as_messages(golds), **inputs) == [1.0] * len(examples)
        assert reward(completions=_as_messages(wrongs), **inputs) == [0.0] * len(examples)
    _assert_best(task.score(golds, examples), task, best=True)
    _assert_best(task.score(wrongs, examples), task, best=False)


@pytest.mark.parametrize("name", TASKS)
def test_rewards_return_none_on_other_tasks_rows(name):
    pairs = [(other, e) for other in TASKS for e in _examples(other)[:20]]
    inputs = _reward_inputs(pairs)
    completions = _as_messages([TASKS[other].gold_completion(e) for other, e in pairs])
    for reward in TASKS[name].rewards.values():
        scores = reward(completions=completions, **inputs)
        assert [s is None for s in scores] == [other != name for other, _ in pairs]


@pytest.mark.parametrize("name", TASKS)
def test_train_and_test_share_no_example(name):
    task = TASKS[name]

    def key(prompt, tools):
        return json.dumps([prompt, tools])

    test = {key(e.prompt, getattr(e, "tools", None)) for e in task.held_out_examples(SMALL, 0)}
    train = {key(e.prompt, getattr(e, "tools", None)) for e in task.grpo_examples(SMALL, 0)}
    train |= {key(r["prompt"], row_tools(r)) for r in task.sft_rows(SMALL, 0)}
    assert test and train and not test & train


@pytest.mark.parametrize("name", TASKS)
def test_data_is_reproducible_from_the_seed(name):
    task = TASKS[name]
    assert task.sft_rows(SMALL, 3) == task.sft_rows(SMALL, 3) != task.sft_rows(SMALL, 4)
    assert task.held_out_examples(SMALL, 3) == task.held_out_examples(SMALL, 3)


@pytest.mark.parametrize("name", TASKS)
def test_load_public_reads_every_format_it_claims(name, public_samples):
    task = TASKS[name]
    for fmt, data, answers, count in public_samples[name]:
        examples = task.load_public(data, answers)
        assert len(examples) == count, fmt
        golds, wrongs = [task.gold_completion(e) for e in examples], [WRONG[name](e) for e in examples]
        assert all(task.check(g, e) for g, e in zip(golds, examples)), fmt
        assert not any(task.check(w, e) for w, e in zip(wrongs, examples)), fmt
        _assert_best(task.score(golds, examples), task, best=True)


@pytest.mark.parametrize("name", list(TASKS))
def test_preference_pairs_prefer_a_reply_the_checker_accepts_over_one_it_rejects(name):
    task = TASKS[name]
    for split in ("train", "test"):
        pairs = task.preference_pairs(SMALL, split, 40, 0)
        assert pairs and all(p["task"] == name for p in pairs)
        for pair in pairs:
            example = task.from_row(pair)
            assert task.check(pair["chosen"], example), pair
            assert not task.check(pair["rejected"], example), pair

    def asked(split):  # what a pair asks: its row without the replies (a request with its tools and gold calls)
        return {
            json.dumps({k: v for k, v in p.items() if k not in ("chosen", "rejected")}, sort_keys=True)
            for p in task.preference_pairs(SMALL, split, 40, 0)
        }

    assert not asked("train") & asked("test")  # the held-out pairs ask what no training pair asks


@pytest.mark.parametrize("name", list(TASKS))
def test_from_row_inverts_row(name):
    task = TASKS[name]
    for example in _examples(name)[:20]:
        assert task.row(task.from_row(task.row(example))) == task.row(example)
