import json

from rlreason.data.tool_calling import TOOLS
from rlreason.reward.tool_call import tool_call

FUNCTIONS = json.dumps([TOOLS["set_timer"]])
EXPECTED = json.dumps([{"set_timer": {"minutes": [5]}}])


def test_scores_tool_rows_with_the_checker_and_skips_other_tasks():
    completions = [
        '<tool_call>{"name": "set_timer", "arguments": {"minutes": 5}}</tool_call>',
        '<tool_call>{"name": "set_timer", "arguments": {"minutes": "5"}}</tool_call>',  # wrong type
        '<tool_call>{"name": "set_timer", "arguments": {"minutes": 5}',  # truncated
        "<think>2+3=5</think><answer>5</answer>",
    ]
    scores = tool_call(
        completions,
        task=["tool_calling"] * 3 + ["reasoning"],
        functions=[FUNCTIONS] * 3 + [None],
        expected_calls=[EXPECTED] * 3 + [None],
    )
    assert scores == [1.0, 0.0, 0.0, None]


def test_irrelevance_rewards_not_calling():
    scores = tool_call(
        ["<answer>None of the tools fits.</answer>", '<tool_call>{"name": "set_timer", "arguments": {"minutes": 1}}</tool_call>'],
        task=["tool_calling"] * 2, functions=[FUNCTIONS] * 2, expected_calls=["[]"] * 2,
    )
    assert scores == [1.0, 0.0]
