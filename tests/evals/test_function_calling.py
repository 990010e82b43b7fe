import json

import pytest

from rlreason.evals.function_calling import FunctionCallingExample, accuracy, check, parse_tool_calls, render_expected

AREA = {
    "name": "area",
    "parameters": {
        "type": "dict",
        "properties": {"base": {"type": "integer"}, "height": {"type": "number"}, "unit": {"type": "string"}},
        "required": ["base", "height"],
    },
}
PLAY = {"name": "play", "parameters": {"type": "dict", "properties": {"artist": {"type": "string"}, "duration": {"type": "integer"}}, "required": ["artist"]}}
SIMPLE = FunctionCallingExample(prompt=[], functions=[AREA], expected=[{"area": {"base": [10], "height": [5.0], "unit": ["cm", ""]}}])
PARALLEL = FunctionCallingExample(
    prompt=[], functions=[PLAY], category="parallel",
    expected=[{"play": {"artist": ["Taylor Swift"], "duration": [20]}}, {"play": {"artist": ["Maroon 5"], "duration": [15]}}],
)


def call(name, **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_correct_call_with_optional_argument_left_out_and_int_for_number():
    assert check(call("area", base=10, height=5), SIMPLE).correct


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
    verdict = check(completion, SIMPLE)
    assert not verdict.correct
    assert reason in verdict.reason


def test_parallel_calls_in_another_order_pass_and_a_mixed_up_pair_fails():
    swapped = call("play", artist="Maroon 5", duration=15) + call("play", artist="Taylor Swift", duration=20)
    assert check(swapped, PARALLEL).correct
    mixed = call("play", artist="Maroon 5", duration=20) + call("play", artist="Taylor Swift", duration=15)
    assert not check(mixed, PARALLEL).correct


def test_irrelevance_means_no_call():
    example = FunctionCallingExample(prompt=[], functions=[AREA], category="irrelevance")
    assert check("None of the tools can write poems.", example).correct
    assert "no function fits" in check(call("area", base=1, height=1), example).reason


def test_string_values_compare_case_insensitively_and_chat_messages_are_read():
    example = FunctionCallingExample(prompt=[], functions=[PLAY], expected=[{"play": {"artist": ["Taylor Swift"], "duration": [""]}}])
    assert check([{"role": "assistant", "content": call("play", artist="taylor swift")}], example).correct


def test_gold_rendering_scores_perfectly_and_accuracy_splits_by_category():
    examples = [SIMPLE, PARALLEL]
    scores = accuracy([render_expected(e) for e in examples], examples)
    assert scores == {"accuracy": 1.0, "simple_accuracy": 1.0, "parallel_accuracy": 1.0}
    assert parse_tool_calls(render_expected(SIMPLE)) == [{"name": "area", "arguments": {"base": 10, "height": 5.0, "unit": "cm"}}]
