import textwrap

import pytest

from rlreason.rewards import RewardConfig, RewardError, RewardSpec, build_rewards, resolve

COMPLETIONS = ["<think>1+1=2</think><answer>2</answer>", "<answer>3</answer>"]
PROMPTS = ["q1", "q2"]


def _call(rewards, **kwargs):
    return [r.fn(prompts=PROMPTS, completions=COMPLETIONS, answer=["2", "2"], **kwargs) for r in rewards]


def test_builtins_are_weighted_and_named():
    rewards = build_rewards(RewardConfig(functions=[RewardSpec(fn="accuracy"), RewardSpec(fn="format", weight=0.1)]))
    assert [r.name for r in rewards] == ["accuracy", "format"]
    assert [r.weight for r in rewards] == [1.0, 0.1]
    assert _call(rewards) == [[1.0, 0.0], [1.0, 0.0]]


def test_trl_reward_by_name():
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(fn="think_format_reward")]))
    chat = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    assert reward.fn(prompts=PROMPTS, completions=chat) == [1.0, 0.0]


def test_dapos_overlong_penalty_is_built_from_its_kwargs():
    spec = RewardSpec(fn="soft_overlong", kwargs={"max_completion_len": 10, "soft_punish_cache": 4})
    (reward,) = build_rewards(RewardConfig(functions=[spec]))
    assert reward.name == "soft_overlong"
    ids = [[1] * 6, [1] * 8, [1] * 12]  # within the budget, in the ramp, past the end
    assert reward.fn(prompts=PROMPTS + ["q3"], completions=COMPLETIONS + ["x"], completion_ids=ids) == [0.0, -0.5, -1.0]
    with pytest.raises(RewardError, match="soft_overlong.*cannot be built with kwargs"):
        build_rewards(RewardConfig(functions=[RewardSpec(fn="soft_overlong", kwargs={"length": 3})]))


def test_plugin_file_outside_the_package(tmp_path):
    plugin = tmp_path / "my_rewards.py"
    plugin.write_text(
        textwrap.dedent("""
        def short(prompts, completions, limit=10, **kwargs):
            return [1.0 if len(c) <= limit else 0.0 for c in completions]
    """)
    )
    spec = RewardSpec(fn=f"{plugin}:short", kwargs={"limit": 20})
    (reward,) = build_rewards(RewardConfig(functions=[spec]))
    assert reward.name == "short"
    assert reward.fn(prompts=PROMPTS, completions=COMPLETIONS) == [0.0, 1.0]


def test_module_colon_function_and_hydra_target_forms():
    by_colon = resolve("rlreason.reward:accuracy")
    by_dots = resolve("rlreason.reward.accuracy")
    assert by_colon is by_dots
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(_target_="rlreason.tasks.think_answer_format")]))
    assert reward.fn(prompts=PROMPTS, completions=COMPLETIONS) == [1.0, 0.0]


def test_a_class_is_built_with_its_kwargs(tmp_path):
    plugin = tmp_path / "scored.py"
    plugin.write_text(
        textwrap.dedent("""
        class Constant:
            def __init__(self, value):
                self.value = value
            def __call__(self, prompts, completions, **kwargs):
                return [self.value] * len(completions)
    """)
    )
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(fn=f"{plugin}:Constant", kwargs={"value": 0.5})]))
    assert reward.fn(prompts=PROMPTS, completions=COMPLETIONS) == [0.5, 0.5]


def _plugin(tmp_path, body):
    plugin = tmp_path / "bad.py"
    plugin.write_text(textwrap.dedent(body))
    return f"{plugin}:bad"


def test_a_raising_reward_is_named(tmp_path):
    spec = _plugin(
        tmp_path,
        """
        def bad(prompts, completions, **kwargs):
            raise KeyError("answer")
    """,
    )
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(fn=spec)]))
    with pytest.raises(RewardError, match="reward 'bad' raised KeyError"):
        reward.fn(prompts=PROMPTS, completions=COMPLETIONS)


def test_wrong_length_and_bad_values_name_reward_and_sample(tmp_path):
    short = _plugin(
        tmp_path,
        """
        def bad(prompts, completions, **kwargs):
            return [1.0]
    """,
    )
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(fn=short)]))
    with pytest.raises(RewardError, match="reward 'bad' returned 1 values for 2 completions"):
        reward.fn(prompts=PROMPTS, completions=COMPLETIONS)
    text = _plugin(
        tmp_path,
        """
        def bad(prompts, completions, **kwargs):
            return [1.0, "high"]
    """,
    )
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(fn=text)]))
    with pytest.raises(RewardError, match="returned 'high' for sample 1"):
        reward.fn(prompts=PROMPTS, completions=COMPLETIONS)


def test_on_error_none_turns_failures_into_none(tmp_path, caplog):
    spec = _plugin(
        tmp_path,
        """
        def bad(prompts, completions, **kwargs):
            raise ValueError("boom")
    """,
    )
    (reward,) = build_rewards(RewardConfig(functions=[RewardSpec(fn=spec)], on_error="none"))
    assert reward.fn(prompts=PROMPTS, completions=COMPLETIONS) == [None, None]
    assert "reward 'bad' raised ValueError: boom" in caplog.text


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nope", "unknown built-in"),
        ("no_such_module_xyz:fn", "cannot import module"),
        ("rlreason.reward:nope", "has no attribute 'nope'"),
        ("/does/not/exist.py:fn", "does not exist"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(RewardError, match=message):
        build_rewards(RewardConfig(functions=[RewardSpec(fn=spec)]))


def test_empty_and_duplicate_reward_lists_are_rejected():
    with pytest.raises(RewardError, match="empty"):
        build_rewards(RewardConfig(functions=[]))
    with pytest.raises(RewardError, match="appear twice"):
        build_rewards(RewardConfig(functions=[RewardSpec(fn="accuracy"), RewardSpec(fn="accuracy")]))
