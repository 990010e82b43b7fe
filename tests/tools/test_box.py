"""The tool box: built-ins and the user's functions found by name, each call bounded in time and output, and
every failure returned to the policy as text instead of raised."""

import time

import pytest

from rlreason.errors import UserError
from rlreason.tasks.tool_use import towns
from rlreason.tools.box import ToolBox, resolve_tool, tool_schema


def slow(seconds: float) -> str:
    """Sleep.

    Args:
        seconds: How long.
    """
    time.sleep(seconds)
    return "done"


def shout(text: str) -> str:
    """Repeat a text loudly.

    Args:
        text: What to repeat.
    """
    return text.upper() * 100


def test_builtins_run_and_their_schemas_are_what_the_chat_template_lists():
    box = ToolBox(["calculator", "lookup"])
    assert [s["name"] for s in box.schemas()] == ["calculator", "lookup"]
    assert box.schemas()[1]["parameters"]["properties"]["field"]["enum"] == ["population", "elevation", "founded"]
    result = box.run({"name": "calculator", "arguments": {"expression": "6 * 7"}})
    assert (result.output, result.failed) == ("42", False)
    founded = str(towns()["Albrook"]["founded"])  # the shipped table, read through the tool with any casing
    assert box.run({"name": "lookup", "arguments": {"town": "albrook", "field": "founded"}}).output == founded


def test_a_users_function_joins_by_module_or_file_and_a_bad_spec_names_the_key(tmp_path):
    assert ToolBox([f"{__name__}:shout"]).tools == {"shout": shout}
    plugin = tmp_path / "mytools.py"
    plugin.write_text(
        'def double(x: int) -> int:\n    """Double a number.\n\n    Args:\n        x: The number.\n    """\n'
        "    return 2 * x\n"
    )
    box = ToolBox([f"{plugin}:double"])
    assert box.run({"name": "double", "arguments": {"x": 21}}).output == "42"
    with pytest.raises(UserError, match=r"rollout.tools: unknown tool 'abacus'; allowed: \['calculator', 'lookup'\]"):
        resolve_tool("abacus")
    with pytest.raises(UserError, match=r"rollout.tools: tool 'no.such.module:fn': cannot import module"):
        resolve_tool("no.such.module:fn")


def test_a_function_without_a_docstring_cannot_be_shown_to_the_policy():
    def bare(x: int) -> int:
        return x

    with pytest.raises(UserError, match="tool bare: .*Google-style docstring"):
        tool_schema(bare)


def test_failures_come_back_as_error_text_and_the_output_is_capped():
    box = ToolBox(["calculator", f"{__name__}:slow", f"{__name__}:shout"], timeout_s=0.2, output_chars=80)
    cases = {
        "unknown": {"name": "abacus", "arguments": {}},
        "bad arguments": {"name": "calculator", "arguments": {"formula": "1+1"}},
        "raises": {"name": "calculator", "arguments": {"expression": "1/0"}},
        "too slow": {"name": "slow", "arguments": {"seconds": 2}},
    }
    results = {case: box.run(call) for case, call in cases.items()}
    assert all(r.failed and r.output.startswith("error: ") for r in results.values())
    assert "unknown tool 'abacus'" in results["unknown"].output
    assert "missing a required argument: 'expression'" in results["bad arguments"].output
    assert results["raises"].output == "error: ValueError: division by zero"
    assert results["too slow"].output == "error: slow took longer than 0.2 s"
    long = box.run({"name": "shout", "arguments": {"text": "hi"}})
    assert not long.failed and long.output == "HI" * 40 + "..."
    assert box.runs([{"name": "calculator"}, {"name": "slow"}]) and not box.runs([{"name": "get_weather"}])
    assert not box.runs([])
    box.close()


def test_limits_must_be_positive():
    with pytest.raises(UserError, match="rollout.tool_timeout_s and rollout.tool_output_chars must be > 0"):
        ToolBox(["calculator"], timeout_s=0)
