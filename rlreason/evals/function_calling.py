"""Function-calling checks in the style of the Berkeley Function Calling Leaderboard's AST evaluation.

The model calls tools as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (one block per call).
A completion is correct when its calls match the expected ones:

* the function name is the expected one (for ``multiple``: the right one among several offered);
* every required argument is present and no argument outside the function's schema appears;
* every value has the schema's type (an integer is accepted where a number is expected, as BFCL does) and is
  one of the allowed values (``""`` among them marks an optional argument that may be left out);
* ``parallel`` calls may come in any order; ``irrelevance`` means no call at all.

Malformed output (unclosed tag, invalid JSON, missing ``name``) is a failure with a reason, never a crash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from rlreason.reward.parsing import completion_text

TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
CATEGORIES = ("simple", "multiple", "parallel", "irrelevance")

_JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "float": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "tuple": (list, tuple),
    "object": (dict,),
    "dict": (dict,),
}


class MalformedToolCall(ValueError):
    pass


@dataclass
class FunctionCallingExample:
    """One question: the functions offered, and the calls that count as correct (empty: must not call)."""

    prompt: list[dict]
    functions: list[dict]
    expected: list[dict[str, dict[str, list]]] = field(default_factory=list)
    category: str = "simple"


@dataclass
class Verdict:
    correct: bool
    reason: str = ""


def parse_tool_calls(text: str) -> list[dict]:
    """The calls in a completion, each ``{"name": str, "arguments": dict}``; raises ``MalformedToolCall``."""
    if text.count("<tool_call>") != text.count("</tool_call>"):
        raise MalformedToolCall("unclosed <tool_call> tag")
    calls = []
    for body in TOOL_CALL.findall(text):
        try:
            call = json.loads(body)
        except json.JSONDecodeError as error:
            raise MalformedToolCall(f"invalid JSON in <tool_call>: {error.msg}") from error
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise MalformedToolCall("a <tool_call> needs a string 'name'")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, dict):
            raise MalformedToolCall("'arguments' must be an object")
        calls.append({"name": call["name"], "arguments": arguments})
    return calls


def _type_ok(value, type_name: str) -> bool:
    expected = _JSON_TYPES.get(type_name)
    if expected is None:
        return True  # a type this checker does not know is not held against the model
    if isinstance(value, bool) and type_name != "boolean":
        return False  # JSON booleans are not numbers
    return isinstance(value, expected)


def _value_ok(value, allowed: list) -> bool:
    for option in allowed:
        if value == option:
            return True
        if isinstance(value, str) and isinstance(option, str) and value.strip().lower() == option.strip().lower():
            return True
    return False


def check_call(call: dict, name: str, allowed_args: dict[str, list], schema: dict | None) -> Verdict:
    """One call against one expected call (``allowed_args``: argument -> allowed values)."""
    if call["name"] != name:
        return Verdict(False, f"called {call['name']!r}, expected {name!r}")
    parameters = (schema or {}).get("parameters", {})
    properties = parameters.get("properties", {})
    required = parameters.get("required", [])
    arguments = call["arguments"]
    for arg in required:
        if arg not in arguments:
            return Verdict(False, f"{name}: missing required argument {arg!r}")
    known = set(properties) | set(allowed_args)
    for arg, value in arguments.items():
        if arg not in known:
            return Verdict(False, f"{name}: unexpected argument {arg!r}")
        type_name = properties.get(arg, {}).get("type")
        if type_name and not _type_ok(value, type_name):
            return Verdict(False, f"{name}: argument {arg!r} should be {type_name}, got {type(value).__name__}")
        if arg in allowed_args and not _value_ok(value, allowed_args[arg]):
            return Verdict(False, f"{name}: argument {arg!r}={value!r} not among {allowed_args[arg]}")
    for arg, allowed in allowed_args.items():
        if arg not in arguments and "" not in allowed:
            return Verdict(False, f"{name}: missing argument {arg!r}")
    return Verdict(True)


def check(completion, example: FunctionCallingExample) -> Verdict:
    """Whether ``completion`` makes exactly the expected calls (in any order)."""
    try:
        calls = parse_tool_calls(completion_text(completion))
    except MalformedToolCall as error:
        return Verdict(False, f"malformed: {error}")
    if not example.expected:
        return Verdict(not calls, "" if not calls else f"called {calls[0]['name']!r} though no function fits")
    if len(calls) != len(example.expected):
        return Verdict(False, f"made {len(calls)} call(s), expected {len(example.expected)}")
    schemas = {f["name"]: f for f in example.functions}
    return _match(calls, example.expected, schemas)


def _match(calls: list[dict], expected: list[dict], schemas: dict) -> Verdict:
    """Match calls to expected calls in any order (backtracking; parallel calls are few)."""
    if not calls:
        return Verdict(True)
    first, rest = calls[0], calls[1:]
    reasons = []
    for index, option in enumerate(expected):
        (name, allowed_args), = option.items()
        verdict = check_call(first, name, allowed_args, schemas.get(name))
        if verdict.correct:
            remaining = _match(rest, expected[:index] + expected[index + 1 :], schemas)
            if remaining.correct:
                return remaining
            reasons.append(remaining.reason)
        else:
            reasons.append(verdict.reason)
    return Verdict(False, reasons[0] if len(reasons) == 1 else "; ".join(sorted(set(reasons))))


def render_expected(example: FunctionCallingExample) -> str:
    """The first allowed form of the expected calls, in the product's output format (gold completions)."""
    blocks = []
    for option in example.expected:
        (name, allowed_args), = option.items()
        arguments = {arg: allowed[0] for arg, allowed in allowed_args.items() if allowed and allowed[0] != ""}
        blocks.append(f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>")
    return "".join(blocks) if blocks else "No available function fits this request."


def accuracy(completions: list, examples: list[FunctionCallingExample]) -> dict[str, float]:
    """Overall and per-category accuracy."""
    verdicts = [check(c, e) for c, e in zip(completions, examples, strict=True)]
    scores = {"accuracy": sum(v.correct for v in verdicts) / max(len(verdicts), 1)}
    for category in CATEGORIES:
        picked = [v.correct for v, e in zip(verdicts, examples) if e.category == category]
        if picked:
            scores[f"{category}_accuracy"] = sum(picked) / len(picked)
    return scores
