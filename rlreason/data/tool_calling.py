"""Synthetic tool-calling conversations: the function-calling skill RL must not break.

Each example offers one or more tools (JSON schemas, passed through the chat template's ``tools=``) and a
request. The target is the product's tool-call format, one block per call:
``<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>``. The four BFCL
categories appear: ``simple`` (one tool, it fits), ``multiple`` (the right one among several), ``parallel``
(one request, two calls) and ``irrelevance`` (the offered tools do not fit: answer without calling).

Examples are :class:`~rlreason.evals.function_calling.FunctionCallingExample`, so training data, the reward
and the eval all use one checker. Splits are decided by a hash of the call(s) an example asks for, so a
test example never repeats a training request, whatever its wording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rlreason.data.splits import draw
from rlreason.evals.function_calling import FunctionCallingExample

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
        "get_weather", "Current weather in a city",
        {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"],
    ),
    "set_timer": _tool("set_timer", "Start a timer", {"minutes": {"type": "integer"}}, ["minutes"]),
    "convert_currency": _tool(
        "convert_currency", "Convert money",
        {"amount": {"type": "number"}, "source": {"type": "string"}, "target": {"type": "string"}},
        ["amount", "source", "target"],
    ),
    "send_email": _tool(
        "send_email", "Email a person", {"to": {"type": "string"}, "subject": {"type": "string"}}, ["to", "subject"]
    ),
    "translate": _tool(
        "translate", "Translate a word", {"text": {"type": "string"}, "language": {"type": "string"}}, ["text", "language"]
    ),
}


def _weather(rng: random.Random) -> tuple[str, dict]:
    city = rng.choice(CITIES)
    if rng.random() < 0.3:
        unit = rng.choice(["celsius", "fahrenheit"])
        return rng.choice(("What is the weather in {c} in {u}?", "Weather for {c} in {u}, please.")).format(c=city, u=unit), {"city": city, "unit": unit}
    return rng.choice(("What is the weather in {c}?", "How warm is it in {c} today?", "Is it raining in {c}?")).format(c=city), {"city": city}


def _timer(rng: random.Random) -> tuple[str, dict]:
    minutes = rng.randint(1, 90)
    return rng.choice(("Set a timer for {m} minutes.", "Remind me in {m} minutes.")).format(m=minutes), {"minutes": minutes}


def _currency(rng: random.Random) -> tuple[str, dict]:
    amount = rng.randint(1, 500)
    source, target = rng.sample(CURRENCIES, 2)
    text = rng.choice(("Convert {a} {s} to {t}.", "How much is {a} {s} in {t}?")).format(a=amount, s=source, t=target)
    return text, {"amount": amount, "source": source, "target": target}


def _email(rng: random.Random) -> tuple[str, dict]:
    person, topic = rng.choice(PEOPLE), rng.choice(TOPICS)
    return rng.choice(("Email {p} about {t}.", "Send {p} an email about {t}.")).format(p=person, t=topic), {"to": person, "subject": topic}


def _translate(rng: random.Random) -> tuple[str, dict]:
    word, language = rng.choice(WORDS), rng.choice(LANGUAGES)
    return rng.choice(("Translate {w} into {l}.", "How do you say {w} in {l}?")).format(w=word, l=language), {"text": word, "language": language}


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


@dataclass
class ToolCallingConfig:
    """Sizes of the synthetic tool-calling task per stage (``data.tool_calling``); 0 leaves it out."""

    sft_size: int = 1200
    grpo_size: int = 0
    test_size: int = 200


def _expected(name: str, arguments: dict) -> dict[str, dict[str, list]]:
    """A call in BFCL's possible-answer shape: every argument with its one allowed value."""
    return {name: {arg: [value] for arg, value in arguments.items()}}


def sample_example(rng: random.Random) -> tuple[FunctionCallingExample, str]:
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
        return FunctionCallingExample([{"role": "user", "content": request}], tools, [], category), f"irr|{signature}|{offered}"
    name = rng.choice(["get_weather", "set_timer"] if category == "parallel" else names)
    offered = [name] + (rng.sample([n for n in names if n != name], rng.randint(1, 2)) if category == "multiple" else [])
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
    return FunctionCallingExample([{"role": "user", "content": request}], [TOOLS[n] for n in offered], expected, category), signature


def generate(split: str, size: int, seed: int, test_fraction: float = 0.15) -> list[FunctionCallingExample]:
    """``size`` distinct examples of ``split`` ("train" or "test"), reproducible from ``seed``."""
    rng = random.Random(f"{seed}-tools-{split}")

    def sample():
        example, signature = sample_example(rng)
        return example, signature, f"{signature}|{example.prompt[0]['content']}"

    return draw(sample, split, size, test_fraction, "data.tool_calling", "lower the split size")
