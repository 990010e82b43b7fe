import json
from collections import Counter

import pytest

from rlreason.tasks.tool_calling import (
    TOOLS,
    ToolCallingExample,
    bfcl_category,
    generate,
    gold_completion,
    load_public,
    parse_tool_calls,
    score,
    tool_calling,
    verdict,
)

AREA = {
    "name": "area",
    "parameters": {
        "type": "dict",
        "properties": {"base": {"type": "integer"}, "height": {"type": "number"}, "unit": {"type": "string"}},
        "required": ["base", "height"],
    },
}
PLAY = {
    "name": "play",
    "parameters": {
        "type": "dict",
        "properties": {"artist": {"type": "string"}, "duration": {"type": "integer"}},
        "required": ["artist"],
    },
}
SIMPLE = ToolCallingExample(
    prompt=[], tools=[AREA], expected=[{"area": {"base": [10], "height": [5.0], "unit": ["cm", ""]}}]
)
PARALLEL = ToolCallingExample(
    prompt=[],
    tools=[PLAY],
    category="parallel",
    expected=[
        {"play": {"artist": ["Taylor Swift"], "duration": [20]}},
        {"play": {"artist": ["Maroon 5"], "duration": [15]}},
    ],
)


def call(name, **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_synthetic_examples_cover_every_category_and_offer_the_tools_they_call():
    examples = generate("train", 300, seed=0)
    assert set(Counter(e.category for e in examples)) == {"simple", "multiple", "parallel", "irrelevance"}
    for example in examples:
        assert {name for c in example.expected for name in c} <= {f["name"] for f in example.tools}
        assert len(example.expected) == {"parallel": 2, "irrelevance": 0}.get(example.category, 1)


def test_no_test_call_is_a_training_call():
    train = {str(e.expected) for e in generate("train", 1200, seed=0) if e.expected}
    assert not train & {str(e.expected) for e in generate("test", 200, seed=0) if e.expected}


def test_correct_call_with_optional_argument_left_out_and_int_for_number():
    assert verdict(call("area", base=10, height=5), SIMPLE).correct


@pytest.mark.parametrize(
    "completion, reason",
    [
        (call("area", base="10", height=5), "argument 'base' should be integer, got str"),
        (call("area", base=10, height=5, colour="red"), "unexpected argument 'colour'"),
        (call("area", base=10), "missing required argument 'height'"),
        (call("area", base=11, height=5), "argument 'base'=11 not among [10]"),
        (call("volume", base=10, height=5), "called 'volume', expected 'area'"),
        (call("area", base=True, height=5), "should be integer, got bool"),
        ("", "made 0 call(s), expected 1"),
        ('<tool_call>{"name": "area", "arguments": {"base": 10, "hei', "malformed: unclosed <tool_call> tag"),
        ('<tool_call>{"name": "area", "arguments": {"base": 10,}}</tool_call>', "malformed: invalid JSON"),
        ('<tool_call>{"arguments": {}}</tool_call>', "malformed: a <tool_call> needs a string 'name'"),
        (call("area", base=10, height=5) + call("area", base=10, height=5), "made 2 call(s), expected 1"),
    ],
)
def test_wrong_calls_fail_with_a_reason(completion, reason):
    result = verdict(completion, SIMPLE)
    assert not result.correct
    assert reason in result.reason


def test_parallel_calls_in_another_order_pass_and_a_mixed_up_pair_fails():
    assert verdict(
        call("play", artist="Maroon 5", duration=15) + call("play", artist="Taylor Swift", duration=20), PARALLEL
    ).correct
    assert not verdict(
        call("play", artist="Maroon 5", duration=20) + call("play", artist="Taylor Swift", duration=15), PARALLEL
    ).correct


def test_irrelevance_means_no_call_and_strings_compare_case_insensitively():
    example = ToolCallingExample(prompt=[], tools=[AREA], category="irrelevance")
    assert verdict("None of the tools can write poems.", example).correct
    assert "no function fits" in verdict(call("area", base=1, height=1), example).reason
    example = ToolCallingExample(
        prompt=[], tools=[PLAY], expected=[{"play": {"artist": ["Taylor Swift"], "duration": [""]}}]
    )
    assert verdict([{"role": "assistant", "content": call("play", artist="taylor swift")}], example).correct


def test_score_splits_accuracy_by_category():
    metrics = score([gold_completion(SIMPLE), call("play", artist="x")], [SIMPLE, PARALLEL]).metrics
    assert metrics == {"accuracy": 0.5, "simple_accuracy": 1.0, "parallel_accuracy": 0.0, "num_examples": 2}
    assert parse_tool_calls(gold_completion(SIMPLE)) == [
        {"name": "area", "arguments": {"base": 10, "height": 5.0, "unit": "cm"}}
    ]


def test_reward_reads_the_json_columns_and_rejects_wrong_types_and_truncation():
    tools, expected = json.dumps([TOOLS["set_timer"]]), json.dumps([{"set_timer": {"minutes": [5]}}])
    completions = [call("set_timer", minutes=5), call("set_timer", minutes="5"), call("set_timer", minutes=5)[:-12]]
    assert tool_calling(completions, task=["tool_calling"] * 3, tools=[tools] * 3, expected_calls=[expected] * 3) == [
        1.0,
        0.0,
        0.0,
    ]


@pytest.mark.parametrize(
    "example_id, category",
    [
        ("simple_3", "simple"),
        ("live_simple_0-0-0", "simple"),
        ("multiple_9", "multiple"),
        ("live_multiple_2-1-0", "multiple"),
        ("parallel_multiple_4", "parallel"),
        ("live_parallel_1-0-0", "parallel"),
        ("irrelevance_7", "irrelevance"),
        ("live_irrelevance_5-0-0", "irrelevance"),
    ],
)
def test_bfcl_categories_come_from_the_id(example_id, category):
    assert bfcl_category(example_id) == category


def test_bfcl_question_without_ground_truth_is_named(tmp_path):
    questions = tmp_path / "q.json"
    questions.write_text(
        json.dumps({"id": "simple_1", "question": [[{"role": "user", "content": "x"}]], "function": [AREA]}) + "\n"
    )
    with pytest.raises(ValueError, match=r"q.json:1: no ground truth for id 'simple_1'"):
        load_public(str(questions))
