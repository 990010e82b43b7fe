import pytest

from rlreason.tasks import think_answer_format
from rlreason.tasks.common import (
    draw,
    extract_answer,
    final_answer,
    is_think_answer,
    read_jsonl,
    split_of,
    task_reward,
    think_answer,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>7+5=12</think><answer>12</answer>", 1.0),
        ("<think>a</think>\n<answer>12</answer>\n", 1.0),
        ("<answer>12</answer>", 0.0),
        ("<think>a</think>", 0.0),
        ("<think>a</think><answer>12</answer> trailing words", 0.0),
        ("<think><think>a</think><answer>1</answer>", 0.0),
        ("<think>a</think><answer></answer>", 0.0),
        ("", 0.0),
    ],
)
def test_format_reward_requires_think_then_answer_and_nothing_else(text, expected):
    assert think_answer_format([text]) == [expected]
    assert think_answer_format([[{"role": "assistant", "content": text}]]) == [expected]
    assert is_think_answer(text) == bool(expected)


def test_format_reward_leaves_tool_call_rows_to_the_tool_calling_reward():
    call = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    assert think_answer_format([call, call], task=["tool_calling", "reasoning"]) == [None, 0.0]


def test_written_format_is_read_back():
    assert extract_answer(think_answer("steps", 12)) == "12" and is_think_answer(think_answer("steps", 12))
    assert extract_answer("no tags") is None


@pytest.mark.parametrize(
    "reply, answer",
    [
        ("<think>7+5=12</think><answer>12</answer>", "12"),  # the product's format
        ("<think>\n7+5=12\n</think>\n\nThe answer is $\\boxed{12}$.", "The answer is $\\boxed{12}$."),  # native tags
        ("7+5=12, so 12.\n</think>\n\n12", "12"),  # the template opened the think block in the generation prompt
        ("She has 12 pens.", "She has 12 pens."),  # no tags at all
        ("<think>still thinking when the tokens ran out", None),
        ("<think>a</think><answer> </answer>", None),
        ("<think>a</think>\n", None),
        ("", None),
    ],
)
def test_final_answer_reads_the_products_format_and_a_models_own(reply, answer):
    assert final_answer(reply) == answer


def test_task_reward_scores_its_rows_only_and_all_rows_without_a_task_column():
    @task_reward("mine", ("gold",))
    def exact(completion, gold):
        return float(completion[0]["content"] == gold)

    completions = [[{"role": "assistant", "content": c}] for c in ("a", "b", "a")]
    assert exact(prompts=None, completions=completions, task=["mine", "other", "mine"], gold=["a", None, "b"]) == [
        1.0,
        None,
        0.0,
    ]
    assert exact(prompts=None, completions=completions, gold=["a", "b", "a"]) == [1.0, 1.0, 1.0]


def test_splits_are_stable_and_draw_names_the_key_when_too_few_exist():
    assert split_of("x+1", 0.5) == split_of("x+1", 0.5)
    items = iter(range(10**6))
    with pytest.raises(ValueError, match="data.tiny: only 1 distinct"):
        draw(lambda: (next(items), "same", "same"), split_of("same", 0.5), 2, 0.5, "data.tiny", "lower it")


def test_jsonl_and_json_arrays_read_with_line_numbers(tmp_path):
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert read_jsonl(lines) == [(1, {"a": 1}), (3, {"a": 2})]
    array = tmp_path / "b.json"
    array.write_text('[{"a": 1}, {"a": 2}]')
    assert read_jsonl(array) == [(1, {"a": 1}), (2, {"a": 2})]
