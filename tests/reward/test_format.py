import pytest

from rlreason.reward.format import think_answer_format


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
def test_requires_think_then_answer_and_nothing_else(text, expected):
    assert think_answer_format([text]) == [expected]
    assert think_answer_format([[{"role": "assistant", "content": text}]]) == [expected]


def test_tool_calling_rows_are_left_to_the_tool_call_reward():
    call = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    assert think_answer_format([call, call], task=["tool_calling", "reasoning"]) == [None, 0.0]
