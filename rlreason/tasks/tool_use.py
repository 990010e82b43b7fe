"""Task **tool_use**: answer a question by calling tools, reading their results, and answering — over several turns.

Where ``tool_calling`` checks one reply's calls against schemas nothing executes, here the tools run: the policy
calls ``calculator`` (arithmetic, :mod:`rlreason.tools.calculator`) or ``lookup`` (a fact from the table this
task ships, ``data/towns.csv``: 300 invented towns, so no pretrained model knows the answers, and enough of them
that a policy must copy the town it was asked about into its call rather than recall which town a question
about population tends to name), the result comes
back as a tool turn, and the episode goes on until the policy answers ``<answer>…</answer>``. Three kinds:

* ``calc``: "What is 347 * 29 + 18?" — one calculator call, then the answer (2 turns);
* ``lookup``: "What is the population of Varnow?" — one lookup, then the answer (2 turns);
* ``lookup_calc``: "How much higher is Albrook than Cordale?" — two lookups in one turn, a calculator call
  on their results, then the answer (3 turns).

A demonstration (SFT) is the whole conversation (user, assistant call, tool result, …, assistant answer); the
loss covers the assistant turns only. As the reasoning task's teacher cuts corners, this one is deliberately
imperfect too: with probability ``skip_rate`` it answers at once with an estimate (the value rounded to one
significant digit) instead of calling the tools, as demonstrations distilled from a model that often guesses
would. SFT imitates the habit; a reward on the final answer can teach the policy that calling pays. GRPO rows
sample it live (``rollout.max_turns`` > 1,
:mod:`rlreason.rollout.multi_turn`), with the tool results masked out of the loss. Splits are decided by the
computation asked for (the expression, the town and field), so a test question is never a training one.

Checker: the last ``<answer>`` of the episode equals the gold value (numerically). Reward ``tool_use``: 1.0 for
the right answer reached through tool calls that all succeeded, 0.5 for the right answer otherwise (no call,
or a call that failed), 0.0 for a wrong or missing answer. Evaluation runs the episode with the real tools
(up to ``eval.tool_use.max_turns`` turns, greedy): accuracy overall and per kind, the share of episodes that
called a tool, the share of calls that failed, and turns per episode.

Public format (``load_public``): jsonl with ``question`` (or ``prompt``) and ``answer``, asked with this task's
tools (``calculator``, ``lookup``); an optional ``category`` groups the accuracy.
"""

from __future__ import annotations

import csv
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from rlreason.errors import UserError
from rlreason.tasks.common import (
    SuiteResult,
    Task,
    completion_text,
    draw,
    extract_answer,
    preference_pair,
    read_jsonl,
    require,
    task_reward,
    user_turn,
)
from rlreason.tasks.tool_calling import MalformedToolCall, parse_tool_calls, tool_call

NAME = "tool_use"
TABLE = Path(__file__).parent / "data" / "towns.csv"
FIELDS = ("population", "elevation", "founded")
TOOLS = ("calculator", "lookup")  # the tools every example offers (rlreason/tools/box.py BUILTINS)
CATEGORY_WEIGHTS = {"calc": 0.4, "lookup": 0.4, "lookup_calc": 0.2}


@dataclass
class ToolUseConfig:
    """``data.tool_use``: multi-turn tool-use questions per stage (0 leaves the task out; ``pipeline=r1_tools``
    sets them)."""

    sft_size: int = 0
    grpo_size: int = 0
    test_size: int = 0
    # the teacher's share of demonstrations that answer with an estimate instead of calling the tools
    skip_rate: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.skip_rate <= 1:
            raise UserError(f"data.tool_use.skip_rate: got {self.skip_rate}; must be between 0 and 1")


@dataclass
class ToolUseExample:
    """A question, its gold answer, and the calls that reach it, turn by turn (for demonstrations)."""

    prompt: list[dict]
    answer: str
    calls: list[list[dict]]
    category: str = "calc"


# --- the table and its tool --------------------------------------------------------------------------------


@functools.cache
def towns() -> dict[str, dict[str, int]]:
    """The shipped table: town -> {population, elevation (metres), founded (year)}."""
    with open(TABLE, encoding="utf-8", newline="") as handle:
        return {row["town"]: {f: int(row[f]) for f in FIELDS} for row in csv.DictReader(handle)}


def lookup(town: str, field: str) -> str:
    """Look up a fact about a town.

    Args:
        town: The town's name.
        field: What to look up. (choices: ["population", "elevation", "founded"])

    Returns:
        The value: inhabitants, metres above sea level, or the year it was founded.
    """
    facts = towns().get(town.strip().title())
    if facts is None:
        raise KeyError(f"no town named {town!r}")
    if field not in FIELDS:
        raise KeyError(f"no field {field!r}; one of {', '.join(FIELDS)}")
    return str(facts[field])


# --- synthetic questions -----------------------------------------------------------------------------------

ASK_FIELD = {
    "population": ("What is the population of {t}?", "How many people live in {t}?"),
    "elevation": ("What is the elevation of {t}?", "How high above sea level is {t}?"),
    "founded": ("When was {t} founded?", "In which year was {t} founded?"),
}
ASK_DIFFERENCE = {
    "population": "How many more people live in {a} than in {b}?",
    "elevation": "How much higher is {a} than {b}?",
    "founded": "How many years after {b} was {a} founded?",
}
ASK_CALC = ("What is {e}?", "Compute {e}.", "Calculate {e} for me.")
EXPRESSIONS = ("{a} * {b}", "{a} * {b} + {c}", "{a} + {b} * {c}", "({a} - {b}) * {c}", "{a} * {b} - {c}")


def _call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def _expression(rng: random.Random) -> str:
    a, b, c = rng.randint(12, 999), rng.randint(3, 99), rng.randint(2, 99)
    return rng.choice(EXPRESSIONS).format(a=a, b=b, c=c)


def sample_example(rng: random.Random) -> tuple[ToolUseExample, str]:
    """One example and its split signature (what is computed or looked up, not its wording)."""
    from rlreason.tools.calculator import calculator

    category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
    names = sorted(towns())
    if category == "calc":
        expression = _expression(rng)
        question = rng.choice(ASK_CALC).format(e=expression)
        return ToolUseExample(
            user_turn(question), calculator(expression), [[_call("calculator", expression=expression)]], category
        ), f"calc|{expression}"
    field = rng.choice(FIELDS)
    if category == "lookup":
        town = rng.choice(names)
        question = rng.choice(ASK_FIELD[field]).format(t=town)
        return ToolUseExample(
            user_turn(question), lookup(town, field), [[_call("lookup", town=town, field=field)]], category
        ), f"lookup|{town}|{field}"
    a, b = rng.sample(names, 2)
    first, second = lookup(a, field), lookup(b, field)
    expression = f"{first} - {second}"
    calls = [[_call("lookup", town=a, field=field), _call("lookup", town=b, field=field)]]
    calls.append([_call("calculator", expression=expression)])
    question = ASK_DIFFERENCE[field].format(a=a, b=b)
    return ToolUseExample(user_turn(question), calculator(expression), calls, category), f"diff|{a}|{b}|{field}"


def generate(split: str, size: int, seed: int, test_fraction: float = 0.15) -> list[ToolUseExample]:
    """``size`` distinct examples of ``split`` ("train" or "test"), reproducible from ``seed``."""
    rng = random.Random(f"{seed}-tool-use-{split}")

    def sample():
        example, signature = sample_example(rng)
        return example, signature, f"{signature}|{example.prompt[0]['content']}"

    return draw(sample, split, size, test_fraction, "data.tool_use", "lower the split size")


@functools.cache
def tool_schemas() -> str:
    """The offered tools' JSON schemas, as a JSON string (how every row carries its tools)."""
    from rlreason.tools.box import resolve_tool, tool_schema

    return json.dumps([tool_schema(resolve_tool(name)) for name in TOOLS])


# --- conversations -----------------------------------------------------------------------------------------


def results(calls: list[dict]) -> list[str]:
    """What each of a turn's (correct) calls returns."""
    from rlreason.tools.box import resolve_tool

    return [resolve_tool(call["name"])(**call["arguments"]) for call in calls]


def final_reply(answer) -> str:
    return f"<answer>{answer}</answer>"


def demonstration(example: ToolUseExample) -> list[dict]:
    """The assistant and tool turns that answer ``example``: each turn's calls, their results, the answer."""
    messages = []
    for calls in example.calls:
        messages.append({"role": "assistant", "content": "".join(tool_call(c["name"], c["arguments"]) for c in calls)})
        messages += [{"role": "tool", "name": c["name"], "content": r} for c, r in zip(calls, results(calls))]
    return messages + [{"role": "assistant", "content": final_reply(example.answer)}]


def transcript(messages: list[dict]) -> str:
    """An episode as one text, the turns one per line: what a reward reads of a multi-turn completion."""
    return "\n".join(m["content"] for m in messages)


def estimate(value: str) -> str:
    """The imperfect teacher's answer without a tool: the value rounded to one significant digit."""
    number = int(value)
    return str(round(number, 1 - len(str(abs(number)))))


def sft_rows(data_cfg, seed: int) -> list[dict]:
    """Demonstrations: whole episodes, or (``skip_rate`` of them, the teacher's habit) an estimate at once."""
    cfg = data_cfg.tool_use
    teacher = random.Random(f"{seed}-tool-use-teacher")
    rows = []
    for example in generate("train", cfg.sft_size, seed):
        if teacher.random() < cfg.skip_rate:
            completion = [{"role": "assistant", "content": final_reply(estimate(example.answer))}]
        else:
            completion = demonstration(example)
        rows.append({"prompt": example.prompt, "completion": completion, "tools": tool_schemas()})
    return rows


def grpo_examples(data_cfg, seed: int) -> list[ToolUseExample]:
    return generate("train", data_cfg.tool_use.grpo_size, seed)


def held_out_examples(data_cfg, seed: int) -> list[ToolUseExample]:
    return generate("test", data_cfg.tool_use.test_size, seed)


def row(example: ToolUseExample) -> dict:
    return {"prompt": example.prompt, "task": NAME, "tools": tool_schemas(), "answer": example.answer}


def from_row(row: dict) -> ToolUseExample:
    return ToolUseExample(row["prompt"], str(row["answer"]), [])


def gold_completion(example: ToolUseExample) -> str:
    """The episode as a reward reads it (calls, results, answer); without its calls (a GRPO row's example), the
    answer alone."""
    return transcript(demonstration(example))


def preference_pairs(data_cfg, split: str, size: int, seed: int) -> list[dict]:
    """The episode that answers right over one whose answer is off by a small amount."""
    rng = random.Random(f"{seed}-tool-use-pairs-{split}")
    pairs = []
    for e in generate(split, size, seed):
        wrong = demonstration(e)
        wrong[-1] = {"role": "assistant", "content": final_reply(int(e.answer) + rng.choice((-10, -1, 1, 10)))}
        pairs.append(preference_pair(row(e), gold_completion(e), transcript(wrong)))
    return pairs


# --- checker and reward ------------------------------------------------------------------------------------


def _same_number(answer: str | None, gold: str) -> bool:
    if answer is None:
        return False
    try:
        return float(answer.replace(",", "").strip()) == float(gold)
    except ValueError:
        return answer.strip() == gold.strip()


def calls_in(text: str) -> list[dict]:
    """The tool calls of an episode's text; malformed ones do not count."""
    try:
        return parse_tool_calls(text)
    except MalformedToolCall:
        return []


def check(completion, example: ToolUseExample) -> bool:
    """Whether the episode's last ``<answer>`` is the gold value."""
    return _same_number(extract_answer(completion_text(completion)), example.answer)


@task_reward(NAME, ("answer", "tool_failures"))
def tool_use(completion, answer, tool_failures=None) -> float:
    """1.0: the right answer, reached through tool calls that all succeeded; 0.5: the right answer without a
    call or after a failed one; 0.0: a wrong or missing answer. Reads ``answer`` and, in GRPO's multi-turn
    rollouts, ``tool_failures`` (the failed calls of the episode, :mod:`rlreason.rollout.multi_turn`)."""
    text = completion_text(completion)
    if not _same_number(extract_answer(text), str(answer)):
        return 0.0
    return 1.0 if calls_in(text) and not tool_failures else 0.5


# --- evaluation --------------------------------------------------------------------------------------------


@dataclass
class Episode:
    """One evaluated episode: the assistant and tool turns, and what the calls did."""

    messages: list[dict]
    calls: int = 0
    failures: int = 0

    @property
    def turns(self) -> int:
        return sum(m["role"] == "assistant" for m in self.messages)


def run_episodes(generator, prompts: list[list[dict]], box, *, max_turns: int, max_new_tokens: int) -> list[Episode]:
    """Greedy episodes: each turn's reply is generated for the conversation so far; a reply whose calls all
    name tools of ``box`` gets their results as tool turns and another turn, up to ``max_turns`` replies."""
    episodes = [Episode([]) for _ in prompts]
    schemas = box.schemas()
    active = list(range(len(prompts)))
    for turn in range(1, max_turns + 1):
        replies = generator.generate(
            [prompts[i] + episodes[i].messages for i in active],
            tools=[schemas] * len(active),
            max_new_tokens=max_new_tokens,
            desc=f"tool use, turn {turn}",
        )
        following = []
        for i, (reply, *_) in zip(active, replies):
            episode = episodes[i]
            episode.messages.append({"role": "assistant", "content": reply})
            calls = calls_in(reply)
            if turn == max_turns or not box.runs(calls):
                continue
            for outcome in map(box.run, calls):
                episode.messages.append(outcome.message)
                episode.calls += 1
                episode.failures += outcome.failed
            following.append(i)
        active = following
        if not active:
            break
    return episodes


def score(completions: list, examples: list[ToolUseExample], episodes: list[Episode] | None = None) -> SuiteResult:
    """Accuracy overall and per kind; with the ``episodes`` the completions came from, how tools were used."""
    correct = [float(check(c, e)) for c, e in zip(completions, examples, strict=True)]
    metrics = {"accuracy": sum(correct) / max(len(correct), 1)}
    for category in sorted({e.category for e in examples}):
        picked = [k for k, e in zip(correct, examples) if e.category == category]
        metrics[f"{category}_accuracy"] = sum(picked) / len(picked)
    if episodes:
        calls = sum(e.calls for e in episodes)
        metrics["tool_use_rate"] = sum(e.calls > 0 for e in episodes) / len(episodes)
        metrics["tool_failure_rate"] = sum(e.failures for e in episodes) / calls if calls else 0.0
        metrics["turns_per_episode"] = sum(e.turns for e in episodes) / len(episodes)
    metrics["num_examples"] = len(examples)
    records = [
        {"category": e.category, "answer": e.answer, "completion": completion_text(c), "correct": bool(k)}
        for c, e, k in zip(completions, examples, correct)
    ]
    return SuiteResult(metrics, {"accuracy": correct}, records)


def evaluate(generator, examples: list[ToolUseExample], cfg, seed: int) -> SuiteResult:
    """Greedy multi-turn episodes with the real tools (``eval.tool_use.max_turns``), scored on the final answer."""
    from rlreason.tools.box import ToolBox

    box = ToolBox(TOOLS)
    try:
        episodes = run_episodes(
            generator,
            [e.prompt for e in examples],
            box,
            max_turns=cfg.tool_use.max_turns,
            max_new_tokens=cfg.max_new_tokens,
        )
    finally:
        box.close()
    return score([transcript(e.messages) for e in episodes], examples, episodes)


def load_public(path: str, answers: str | None = None) -> list[ToolUseExample]:
    """jsonl of ``question`` (or ``prompt``) and ``answer``, with an optional ``category``."""
    examples = []
    for line_no, record in read_jsonl(path):
        where = f"{path}:{line_no}"
        question = record.get("question", record.get("prompt"))
        if question is None:
            require(record, ("question",), where)
        require(record, ("answer",), where)
        examples.append(ToolUseExample(user_turn(question), str(record["answer"]), [], record.get("category", "all")))
    return examples


TASK = Task(
    name=NAME,
    sft_rows=sft_rows,
    grpo_examples=grpo_examples,
    held_out_examples=held_out_examples,
    row=row,
    from_row=from_row,
    columns=("tools", "answer"),
    check=check,
    gold_completion=gold_completion,
    preference_pairs=preference_pairs,
    rewards={"tool_use": tool_use},
    score=score,
    evaluate=evaluate,
    load_public=load_public,
    main_metrics=("accuracy",),
    gates=(("accuracy", 0.05, True),),
    think_answer_replies=False,
)
