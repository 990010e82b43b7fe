"""Task **tool_calling**: call the offered tools correctly, the skill RL must not break.

Data: synthetic conversations, each offering one or more tools (JSON schemas, handed to the chat template's
``tools=``) and a request. The reply is the product's tool-call format, one block per call:
``<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>``. The four BFCL categories
appear: ``simple`` (one tool, it fits), ``multiple`` (the right one among several), ``parallel`` (one
request, two calls) and ``irrelevance`` (the offered tools do not fit: answer without calling). Splits are
decided by a hash of the call(s) an example asks for, so a test example never repeats a training request,
whatever its wording.

Checker, in the style of the Berkeley Function Calling Leaderboard's AST evaluation: the function name is
the expected one; every required argument is present and none outside the schema; every value has the
schema's type (an integer is accepted where a number is expected, as BFCL does) and is one of the allowed
values (``""`` among them marks an optional argument that may be left out); ``parallel`` calls may come in
any order; ``irrelevance`` means no call at all. Malformed output (unclosed tag, invalid JSON, missing
``name``) is a failure with a reason, never a crash. Reward: ``tool_calling``. Evaluation: accuracy, overall
and per category.

Public format (``load_public``): BFCL's question jsonl (``id``, ``question``, ``function``) with its
possible-answer jsonl (``id``, ``ground_truth``), the category read from the id (``simple_3``,
``live_multiple_2-1-0``, ``irrelevance_0``, ``live_irrelevance_5-0-0``, …); irrelevance files need no answers.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

from rlreason.errors import UserError
from rlreason.tasks.common import (
    SuiteResult,
    Task,
    assistant_turn,
    completion_text,
    draw,
    preference_pair,
    read_jsonl,
    require,
    task_reward,
    user_turn,
)

NAME = "tool_calling"
TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
CATEGORIES = ("simple", "multiple", "parallel", "irrelevance")


@dataclass
class ToolCallingConfig:
    """``data.tool_calling``: synthetic tool-calling conversations per stage; 0 leaves the task out of a stage."""

    sft_size: int = 1200
    grpo_size: int = 0  # pipeline=r1_all_scenario also rewards tool calls in GRPO
    test_size: int = 200


@dataclass
class ToolCallingExample:
    """One request: the tools offered, and the calls that count as correct (empty: must not call)."""

    prompt: list[dict]
    tools: list[dict]
    expected: list[dict[str, dict[str, list]]] = field(default_factory=list)
    category: str = "simple"


# --- synthetic conversations -------------------------------------------------------------------------------

CITIES = ("Paris", "Rome", "Tokyo", "Lima", "Oslo", "Cairo", "Delhi", "Quito", "Seoul", "Dakar", "Riga", "Lagos")
PEOPLE = ("Mia", "Tom", "Ana", "Leo", "Sam", "Ivy", "Max", "Zoe")
TOPICS = ("lunch", "the report", "the trip", "the game", "rent", "the party")
CURRENCIES = ("USD", "EUR", "JPY", "GBP", "INR")
LANGUAGES = ("French", "German", "Spanish", "Italian")
WORDS = ("hello", "thanks", "water", "bread", "friend", "night")


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


TOOLS = {
    "get_weather": _tool(
        "get_weather",
        "Current weather in a city",
        {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        ["city"],
    ),
    "set_timer": _tool("set_timer", "Start a timer", {"minutes": {"type": "integer"}}, ["minutes"]),
    "convert_currency": _tool(
        "convert_currency",
        "Convert money",
        {"amount": {"type": "number"}, "source": {"type": "string"}, "target": {"type": "string"}},
        ["amount", "source", "target"],
    ),
    "send_email": _tool(
        "send_email", "Email a person", {"to": {"type": "string"}, "subject": {"type": "string"}}, ["to", "subject"]
    ),
    "translate": _tool(
        "translate",
        "Translate a word",
        {"text": {"type": "string"}, "language": {"type": "string"}},
        ["text", "language"],
    ),
}


def _weather(rng: random.Random) -> tuple[str, dict]:
    city = rng.choice(CITIES)
    if rng.random() < 0.3:
        unit = rng.choice(["celsius", "fahrenheit"])
        return rng.choice(("What is the weather in {c} in {u}?", "Weather for {c} in {u}, please.")).format(
            c=city, u=unit
        ), {"city": city, "unit": unit}
    return rng.choice(("What is the weather in {c}?", "How warm is it in {c} today?", "Is it raining in {c}?")).format(
        c=city
    ), {"city": city}


def _timer(rng: random.Random) -> tuple[str, dict]:
    minutes = rng.randint(1, 90)
    return rng.choice(("Set a timer for {m} minutes.", "Remind me in {m} minutes.")).format(m=minutes), {
        "minutes": minutes
    }


def _currency(rng: random.Random) -> tuple[str, dict]:
    amount = rng.randint(1, 500)
    source, target = rng.sample(CURRENCIES, 2)
    text = rng.choice(("Convert {a} {s} to {t}.", "How much is {a} {s} in {t}?")).format(a=amount, s=source, t=target)
    return text, {"amount": amount, "source": source, "target": target}


def _email(rng: random.Random) -> tuple[str, dict]:
    person, topic = rng.choice(PEOPLE), rng.choice(TOPICS)
    return rng.choice(("Email {p} about {t}.", "Send {p} an email about {t}.")).format(p=person, t=topic), {
        "to": person,
        "subject": topic,
    }


def _translate(rng: random.Random) -> tuple[str, dict]:
    word, language = rng.choice(WORDS), rng.choice(LANGUAGES)
    return rng.choice(("Translate {w} into {l}.", "How do you say {w} in {l}?")).format(w=word, l=language), {
        "text": word,
        "language": language,
    }


REQUESTS = {
    "get_weather": _weather,
    "set_timer": _timer,
    "convert_currency": _currency,
    "send_email": _email,
    "translate": _translate,
}
# Requests no offered tool can serve (paired with tools that do not fit them).
UNSERVED = ("Tell me a joke.", "Who wrote Hamlet?", "What is the capital of Peru?", "Write a haiku about rain.")
CATEGORY_WEIGHTS = {"simple": 0.35, "multiple": 0.3, "parallel": 0.15, "irrelevance": 0.2}


def _expected(name: str, arguments: dict) -> dict[str, dict[str, list]]:
    """A call in BFCL's possible-answer shape: every argument with its one allowed value."""
    return {name: {arg: [value] for arg, value in arguments.items()}}


def sample_example(rng: random.Random) -> tuple[ToolCallingExample, str]:
    """One example and its split signature (the requested calls, not their wording)."""
    category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
    names = sorted(TOOLS)
    if category == "irrelevance":
        offered = rng.sample(names, rng.randint(1, 2))
        if rng.random() < 0.5:
            request, signature = rng.choice(UNSERVED), "none"
        else:  # a request for a tool that is not on offer
            missing = rng.choice([n for n in names if n not in offered])
            request, arguments = REQUESTS[missing](rng)
            signature = f"{missing}{sorted(arguments.items())}"
        tools = [TOOLS[n] for n in offered]
        return ToolCallingExample(user_turn(request), tools, [], category), f"irr|{signature}|{offered}"
    name = rng.choice(["get_weather", "set_timer"] if category == "parallel" else names)
    offered = [name] + (
        rng.sample([n for n in names if n != name], rng.randint(1, 2)) if category == "multiple" else []
    )
    rng.shuffle(offered)
    request, arguments = REQUESTS[name](rng)
    expected = [_expected(name, arguments)]
    if category == "parallel":
        second_request, second = REQUESTS[name](rng)
        while second == arguments:
            second_request, second = REQUESTS[name](rng)
        request = f"{request.rstrip('.?')} and also: {second_request[0].lower()}{second_request[1:]}"
        expected.append(_expected(name, second))
    signature = str(sorted(str(e) for e in expected))  # the calls alone: one split per call, whatever the category
    return ToolCallingExample(user_turn(request), [TOOLS[n] for n in offered], expected, category), signature


def generate(split: str, size: int, seed: int, test_fraction: float = 0.15) -> list[ToolCallingExample]:
    """``size`` distinct examples of ``split`` ("train" or "test"), reproducible from ``seed``."""
    rng = random.Random(f"{seed}-tools-{split}")

    def sample():
        example, signature = sample_example(rng)
        return example, signature, f"{signature}|{example.prompt[0]['content']}"

    return draw(sample, split, size, test_fraction, "data.tool_calling", "lower the split size")


# --- the task's data ---------------------------------------------------------------------------------------


def sft_rows(data_cfg, seed: int) -> list[dict]:
    return [
        {"prompt": e.prompt, "completion": assistant_turn(gold_completion(e)), "tools": json.dumps(e.tools)}
        for e in generate("train", data_cfg.tool_calling.sft_size, seed)
    ]


def grpo_examples(data_cfg, seed: int) -> list[ToolCallingExample]:
    return generate("train", data_cfg.tool_calling.grpo_size, seed)


def held_out_examples(data_cfg, seed: int) -> list[ToolCallingExample]:
    """Held-out synthetic examples (requests no training row made)."""
    return generate("test", data_cfg.tool_calling.test_size, seed)


def tool_call(name: str, arguments: dict) -> str:
    """One call in the product's tool-call format."""
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _wrong_call(example: ToolCallingExample, rng: random.Random) -> str:
    """A reply the checker rejects: a call where none fits, no call, another tool, or another argument value."""
    offered = [tool["name"] for tool in example.tools]
    if not example.expected:
        name = rng.choice(offered)
        return tool_call(name, REQUESTS[name](rng)[1])
    ((name, allowed),) = example.expected[0].items()
    arguments = {arg: values[0] for arg, values in allowed.items()}
    kind = rng.choice(["no_call", "other_tool", "other_value"] if len(offered) > 1 else ["no_call", "other_value"])
    if kind == "no_call":
        return "No available function fits this request."
    if kind == "other_tool":
        other = rng.choice([n for n in offered if n != name])
        return tool_call(other, REQUESTS[other](rng)[1])
    other_arguments = REQUESTS[name](rng)[1]
    while other_arguments == arguments:
        other_arguments = REQUESTS[name](rng)[1]
    return tool_call(name, other_arguments)


def preference_pairs(data_cfg, split: str, size: int, seed: int) -> list[dict]:
    """The expected calls over a wrong reply (``_wrong_call``), with the tools the request offered."""
    rng = random.Random(f"{seed}-tools-pairs-{split}")
    return [preference_pair(row(e), gold_completion(e), _wrong_call(e, rng)) for e in generate(split, size, seed)]


def row(example: ToolCallingExample) -> dict:
    """The tools and the expected calls travel as JSON strings: one Arrow type for every row of a mixed set."""
    return {
        "prompt": example.prompt,
        "task": NAME,
        "tools": json.dumps(example.tools),
        "expected_calls": json.dumps(example.expected),
    }


def from_row(row: dict) -> ToolCallingExample:
    return ToolCallingExample(row["prompt"], json.loads(row["tools"]), json.loads(row["expected_calls"]))


# --- checker -----------------------------------------------------------------------------------------------

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
    arguments = call["arguments"]
    for arg in parameters.get("required", []):
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


def verdict(completion, example: ToolCallingExample) -> Verdict:
    """Whether ``completion`` makes exactly the expected calls (in any order), and if not, why."""
    try:
        calls = parse_tool_calls(completion_text(completion))
    except MalformedToolCall as error:
        return Verdict(False, f"malformed: {error}")
    if not example.expected:
        return Verdict(not calls, "" if not calls else f"called {calls[0]['name']!r} though no function fits")
    if len(calls) != len(example.expected):
        return Verdict(False, f"made {len(calls)} call(s), expected {len(example.expected)}")
    return _match(calls, example.expected, {f["name"]: f for f in example.tools})


def _match(calls: list[dict], expected: list[dict], schemas: dict) -> Verdict:
    """Match calls to expected calls in any order (backtracking; parallel calls are few)."""
    if not calls:
        return Verdict(True)
    first, rest = calls[0], calls[1:]
    reasons = []
    for index, option in enumerate(expected):
        ((name, allowed_args),) = option.items()
        result = check_call(first, name, allowed_args, schemas.get(name))
        if result.correct:
            remaining = _match(rest, expected[:index] + expected[index + 1 :], schemas)
            if remaining.correct:
                return remaining
            reasons.append(remaining.reason)
        else:
            reasons.append(result.reason)
    return Verdict(False, reasons[0] if len(reasons) == 1 else "; ".join(sorted(set(reasons))))


def check(completion, example: ToolCallingExample) -> bool:
    return verdict(completion, example).correct


def gold_completion(example: ToolCallingExample) -> str:
    """The first allowed form of the expected calls, in the product's tool-call format."""
    blocks = []
    for option in example.expected:
        ((name, allowed_args),) = option.items()
        arguments = {arg: allowed[0] for arg, allowed in allowed_args.items() if allowed and allowed[0] != ""}
        blocks.append(tool_call(name, arguments))
    return "".join(blocks) if blocks else "No available function fits this request."


@task_reward(NAME, ("tools", "expected_calls"))
def tool_calling(completion, tools, expected_calls) -> float:
    """1.0 when a completion makes exactly the expected calls (or none, for irrelevance), else 0.0; reads the
    ``tools`` and ``expected_calls`` columns (JSON strings)."""
    return float(
        check(completion, ToolCallingExample(prompt=[], tools=json.loads(tools), expected=json.loads(expected_calls)))
    )


# --- evaluation --------------------------------------------------------------------------------------------


def score(completions: list, examples: list[ToolCallingExample]) -> SuiteResult:
    """Overall and per-category accuracy."""
    verdicts = [verdict(c, e) for c, e in zip(completions, examples, strict=True)]
    metrics = {"accuracy": sum(v.correct for v in verdicts) / max(len(verdicts), 1)}
    for category in CATEGORIES:
        picked = [v.correct for v, e in zip(verdicts, examples) if e.category == category]
        if picked:
            metrics[f"{category}_accuracy"] = sum(picked) / len(picked)
    metrics["num_examples"] = len(examples)
    records = [
        {"category": e.category, "completion": completion_text(c), "correct": v.correct, "reason": v.reason}
        for c, e, v in zip(completions, examples, verdicts)
    ]
    return SuiteResult(metrics, {"accuracy": [float(v.correct) for v in verdicts]}, records)


def evaluate(generator, examples: list[ToolCallingExample], cfg, seed: int) -> SuiteResult:
    """Greedy completions with each example's tools in the chat template, checked BFCL-style."""
    completions = generator.generate(
        [e.prompt for e in examples],
        tools=[e.tools for e in examples],
        max_new_tokens=cfg.max_new_tokens,
        desc="tool calling",
    )
    return score([c[0] for c in completions], examples)


# --- public format: BFCL -----------------------------------------------------------------------------------


def bfcl_category(example_id: str) -> str:
    """The checker's category for a BFCL id: ``live_parallel_multiple_3-1-0`` is parallel, and so on."""
    prefix = example_id.rsplit("_", 1)[0]
    for category in ("irrelevance", "parallel", "multiple"):
        if category in prefix:
            return category
    return "simple"


def load_public(questions: str, answers: str | None = None) -> list[ToolCallingExample]:
    """BFCL question file plus its possible-answer file (not needed when every question is irrelevance)."""
    truth = {}
    if answers is not None:
        for line_no, record in read_jsonl(answers):
            require(record, ("id", "ground_truth"), f"{answers}:{line_no}")
            truth[record["id"]] = record["ground_truth"]
    examples = []
    for line_no, record in read_jsonl(questions):
        where = f"{questions}:{line_no}"
        require(record, ("id", "question", "function"), where)
        category = bfcl_category(record["id"])
        if category != "irrelevance" and record["id"] not in truth:
            raise UserError(
                f"{where}: no ground truth for id {record['id']!r} in {answers} (the possible-answer file, 'answers=')"
            )
        question = record["question"]
        # BFCL v3 nests turns: [[{role, content}, ...]]; the first turn is the question.
        messages = question[0] if question and isinstance(question[0], list) else question
        examples.append(
            ToolCallingExample(user_turn(messages), record["function"], truth.get(record["id"], []), category)
        )
    return examples


TASK = Task(
    name=NAME,
    sft_rows=sft_rows,
    grpo_examples=grpo_examples,
    held_out_examples=held_out_examples,
    row=row,
    from_row=from_row,
    columns=("tools", "expected_calls"),
    check=check,
    gold_completion=gold_completion,
    preference_pairs=preference_pairs,
    rewards={"tool_calling": tool_calling},
    score=score,
    evaluate=evaluate,
    load_public=load_public,
    main_metrics=("accuracy",),
    gates=(("accuracy", 0.05, True),),
    think_answer_replies=False,
)
