"""The tool-use task: its examples are answered by the calls they show, its splits never share a computation,
its reward tells a tool-made answer from a guess and a wrong one, and its evaluation runs real episodes."""

import json
from collections import Counter

import pytest

from rlreason.data.mixer import DataConfig, has_tool_turns, one_row_per_turn, sft_dataset
from rlreason.errors import UserError
from rlreason.tasks import TASKS
from rlreason.tasks.common import split_of
from rlreason.tasks.reasoning import ReasoningConfig
from rlreason.tasks.safety import SafetyConfig
from rlreason.tasks.tool_calling import ToolCallingConfig
from rlreason.tasks.tool_use import (
    Episode,
    ToolUseConfig,
    demonstration,
    estimate,
    generate,
    gold_completion,
    load_public,
    lookup,
    run_episodes,
    score,
    tool_use,
    towns,
    transcript,
)
from rlreason.tasks.tool_use import check as check_episode
from rlreason.tools.box import ToolBox


def test_every_demonstration_reaches_its_answer_through_the_calls_it_shows():
    examples = generate("train", 60, seed=0)
    assert set(Counter(e.category for e in examples)) == {"calc", "lookup", "lookup_calc"}
    for example in examples:
        messages = demonstration(example)
        assert [m["role"] for m in messages][-1] == "assistant" and check_episode(transcript(messages), example)
        tool_outputs = [m["content"] for m in messages if m["role"] == "tool"]
        assert example.answer == tool_outputs[-1]  # the answer is what the last tool returned
    difference = next(e for e in examples if e.category == "lookup_calc")
    assert [m["role"] for m in demonstration(difference)] == [
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]


def test_lookup_reads_the_shipped_table_and_names_what_it_lacks():
    town, facts = next(iter(towns().items()))
    assert len(towns()) == 300 and lookup(town.lower(), "population") == str(facts["population"])
    with pytest.raises(KeyError, match="no town named 'Atlantis'"):
        lookup("Atlantis", "population")
    with pytest.raises(KeyError, match="no field 'mayor'"):
        lookup(town, "mayor")


def test_test_questions_never_ask_a_training_computation():
    def signatures(split):
        return {e.calls and json.dumps(e.calls) for e in generate(split, 150, seed=3)}

    assert not signatures("train") & signatures("test")
    assert all(
        split_of(f"calc|{e.calls[0][0]['arguments']['expression']}", 0.15) == "test"
        for e in generate("test", 40, seed=3)
        if e.category == "calc"
    )


def test_the_reward_pays_for_the_answer_and_more_when_tools_reached_it_without_failing():
    example = generate("train", 1, seed=1)[0]
    episode = gold_completion(example)
    guess = f"<answer>{example.answer}</answer>"
    wrong = episode.replace(f"<answer>{example.answer}</answer>", "<answer>-1</answer>")
    scores = tool_use(
        completions=[episode, episode, guess, wrong, "no answer", episode],
        answer=[example.answer] * 6,
        tool_failures=[0, 1, 0, 0, 0, 0],
        task=["tool_use"] * 5 + ["reasoning"],
    )
    assert scores == [1.0, 0.5, 0.5, 0.0, 0.0, None]


def test_multi_turn_demonstrations_are_flagged_for_an_assistant_only_loss():
    data = DataConfig(
        reasoning=ReasoningConfig(sft_size=10),
        tool_calling=ToolCallingConfig(sft_size=5),
        safety=SafetyConfig(sft_size=5),
    )
    assert not has_tool_turns(sft_dataset(data, seed=0))
    data.tool_use.sft_size = 5
    data.tool_use.skip_rate = 0.0
    mixed = sft_dataset(data, seed=0)
    assert has_tool_turns(mixed)
    split = one_row_per_turn(mixed)
    assert not has_tool_turns(split) and len(split) > len(mixed)  # every tool output moved into a prompt
    turns = [row for row in split if any(m["role"] == "tool" for m in row["prompt"])]
    assert turns and all(row["prompt"][-1]["role"] == "tool" for row in turns)
    assert all(row["completion"][0]["role"] == "assistant" and len(row["completion"]) == 1 for row in split)


class EchoCalls:
    """A generator stand-in at the model's edge: each turn replies what ``script`` says for the conversation
    so far, so the episode loop and the real tools can be checked without a trained model."""

    def __init__(self, script):
        self.script, self.seen = script, []

    def generate(self, prompts, *, tools, max_new_tokens, desc):
        self.seen.append((prompts, tools))
        return [[self.script(p)] for p in prompts]


def test_episodes_run_the_real_tools_turn_by_turn_until_an_answer_or_the_turn_limit():
    box = ToolBox(["calculator", "lookup"])
    first_town = next(iter(towns()))

    def script(conversation):
        tool_turns = [m for m in conversation if m["role"] == "tool"]
        if "loop" in conversation[0]["content"]:
            return '<tool_call>{"name": "calculator", "arguments": {"expression": "1 + 1"}}</tool_call>'
        if not tool_turns:
            return (
                f'<tool_call>{{"name": "lookup", "arguments": {{"town": "{first_town}", "field": "founded"}}}}'
                '</tool_call><tool_call>{"name": "calculator", "arguments": {"expression": "1/0"}}</tool_call>'
            )
        return f"<answer>{tool_turns[0]['content']}</answer>"

    generator = EchoCalls(script)
    prompts = [[{"role": "user", "content": "When?"}], [{"role": "user", "content": "loop"}]]
    episodes = run_episodes(generator, prompts, box, max_turns=3, max_new_tokens=32)
    answered, looping = episodes
    assert answered.turns == 2 and answered.calls == 2 and answered.failures == 1
    assert [m["role"] for m in answered.messages] == ["assistant", "tool", "tool", "assistant"]
    assert answered.messages[2]["content"] == "error: ValueError: division by zero"
    assert looping.turns == 3 and looping.calls == 2  # the last turn's call is not run: no turn would read it
    assert generator.seen[0][1][0] == box.schemas()  # every turn offers the tools
    founded = str(towns()[first_town]["founded"])
    result = score([transcript(e.messages) for e in episodes], [_example(founded), _example("2")], episodes)
    assert result.metrics["accuracy"] == 0.5 and result.metrics["tool_use_rate"] == 1.0
    assert result.metrics["tool_failure_rate"] == 0.25 and result.metrics["turns_per_episode"] == 2.5
    box.close()


def _example(answer):
    from rlreason.tasks.tool_use import ToolUseExample

    return ToolUseExample([], answer, [], "lookup")


def test_public_file_questions_and_answers_are_read_with_their_lines(tmp_path):
    path = tmp_path / "tools.jsonl"
    path.write_text('{"question": "What is 2 * 21?", "answer": 42, "category": "calc"}\n{"prompt": "x"}\n')
    with pytest.raises(Exception, match=r"tools.jsonl:2: missing field\(s\) \['answer'\]"):
        load_public(str(path))
    path.write_text('{"question": "What is 2 * 21?", "answer": 42, "category": "calc"}\n')
    (example,) = load_public(str(path))
    assert (
        example.answer == "42"
        and example.category == "calc"
        and score(["<answer>42</answer>"], [example]).metrics["calc_accuracy"] == 1.0
    )
    assert Episode([]).turns == 0


def test_the_imperfect_teacher_answers_a_share_of_demonstrations_with_an_estimate_and_no_call():
    data = DataConfig(tool_use=ToolUseConfig(sft_size=400, skip_rate=0.5))
    rows = TASKS["tool_use"].sft_rows(data, seed=0)
    examples = generate("train", 400, seed=0)
    skipped = [(r, e) for r, e in zip(rows, examples) if len(r["completion"]) == 1]
    assert 0.4 < len(skipped) / len(rows) < 0.6
    for row, example in skipped:
        assert "<tool_call>" not in row["completion"][0]["content"]
        assert row["completion"][0]["content"] == f"<answer>{estimate(example.answer)}</answer>"
    assert sum(not check_episode(r["completion"][0]["content"], e) for r, e in skipped) > 0.9 * len(skipped)
    perfect = TASKS["tool_use"].sft_rows(DataConfig(tool_use=ToolUseConfig(sft_size=50, skip_rate=0.0)), seed=0)
    assert all(len(r["completion"]) > 1 for r in perfect)
    with pytest.raises(UserError, match="data.tool_use.skip_rate: got 1.5"):
        ToolUseConfig(skip_rate=1.5)
