"""``rlreason rewards list`` and ``rlreason rewards check``: every built-in named with its source; a usable reward's
scores printed; each way a reward can be unusable refused with exit code 2 and a message naming it."""

import json
import re
import textwrap

import pytest

from rlreason.rewards.cli import rewards_main


def test_list_names_every_builtin_and_spec_form_with_its_source(capsys):
    rewards_main(["list"])
    out = capsys.readouterr().out
    for line in (
        "accuracy ",
        "rlreason.tasks.reasoning:accuracy",
        "tool_calling ",
        "safety ",
        "format ",
        "think_format ",
        "llm_judge ",
        "rlreason.rewards.judge:LLMJudge",
        "rm:PATH ",
        "rlreason.rewards.model:RewardModel",
        "remote:URL ",
        "accuracy_reward",
        "path/file.py:function",
    ):
        assert line in out


def test_check_prints_the_scores_of_correct_and_wrong_replies(capsys):
    rewards_main(["check", "accuracy", "--rows", "3"])
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert figures["reward"] == "accuracy" and figures["rows"] == 3
    assert figures["scores"] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    header = next(i for i, line in enumerate(out) if line.split() == ["row", "task", "reply", "score"])
    assert out[header + 1].split() == ["0", "reasoning", "correct", "1.0000"]


def test_check_on_rows_the_reward_does_not_score_says_so(capsys):
    rewards_main(["check", "safety"])
    captured = capsys.readouterr()
    assert json.loads(captured.out.splitlines()[-1])["scores"] == [None] * 4
    assert "every score is None" in captured.err and "data.safety.grpo_size=8" in captured.err
    rewards_main(["check", "safety", "data.safety.grpo_size=4"])
    assert {1.0, 0.0} <= set(json.loads(capsys.readouterr().out.splitlines()[-1])["scores"])


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "def bad(prompts, completions):\n    return [1.0] * len(completions)",
            "reward 'bad': its signature .* has no \\*\\*kwargs",
        ),
        (
            "def bad(prompts, completions, **kwargs):\n    return [1.0]",
            "reward 'bad' returned 1 values for 4 completions",
        ),
        (
            "def bad(prompts, completions, **kwargs):\n    return [float('nan')] * len(completions)",
            "reward 'bad' returned nan for sample 0",
        ),
        (
            "def bad(prompts, completions, **kwargs):\n    return [float('inf')] * len(completions)",
            "reward 'bad' returned inf for sample 0",
        ),
        (
            "def bad(prompts, completions, **kwargs):\n    return ['good'] * len(completions)",
            "reward 'bad' returned 'good' for sample 0",
        ),
        (
            "def bad(prompts, completions, **kwargs):\n    raise KeyError('answer')",
            "reward 'bad' raised KeyError: 'answer'",
        ),
        (
            "def bad(prompts, completions, **kwargs):\n    import time; time.sleep(3); return [0.0] * len(completions)",
            "reward 'bad' raised TimeoutError: took longer than its time budget of 0.5 s",
        ),
    ],
)
def test_check_refuses_an_unusable_reward_naming_it(tmp_path, capsys, body, message):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent(body) + "\n")
    with pytest.raises(SystemExit) as stop:
        rewards_main(["check", f"{plugin}:bad", "--timeout", "0.5"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("rlreason: reward check failed: ")
    assert re.search(message, err), err


def test_check_names_a_bad_spec_kwargs_or_override(capsys):
    for argv, message in (
        (["check", "nope"], "reward 'nope': unknown built-in"),
        (["check", "accuracy", "--kwargs", "{oops"], "--kwargs: not JSON"),
        (["check", "accuracy", "data.reasoning.grpo_sizes=3"], "config error"),
    ):
        with pytest.raises(SystemExit) as stop:
            rewards_main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
