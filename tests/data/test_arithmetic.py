import random

import pytest

from rlreason.data.arithmetic import ArithmeticConfig, generate, teacher_completion
from rlreason.data.splits import split_of


def _evaluate(step: str) -> tuple[int, int]:
    expression, result = step.split("=")
    return eval(expression), int(result)  # the steps are plain integer arithmetic


def test_problems_are_reproducible_from_the_seed():
    cfg = ArithmeticConfig(max_steps=3)
    assert generate(cfg, "train", 50, seed=3) == generate(cfg, "train", 50, seed=3)
    assert generate(cfg, "train", 50, seed=3) != generate(cfg, "train", 50, seed=4)


def test_train_and_test_never_share_a_computation():
    cfg = ArithmeticConfig(max_steps=3)
    train = {p.signature for p in generate(cfg, "train", 3000, seed=0)}
    test = {p.signature for p in generate(cfg, "test", 300, seed=0)}
    assert len(test) == 300
    assert not train & test
    assert all(split_of(s, cfg.test_fraction) == "test" for s in test)


def test_every_step_is_correct_arithmetic_and_ends_at_the_answer():
    cfg = ArithmeticConfig(min_steps=2, max_steps=4, ops=["+", "-", "*"])
    for problem in generate(cfg, "train", 200, seed=1):
        for step in problem.steps:
            computed, written = _evaluate(step)
            assert computed == written and 0 <= written <= cfg.max_value
        assert int(problem.steps[-1].split("=")[1]) == problem.answer
        assert 2 <= len(problem.steps) <= 4
        assert problem.completion.endswith(f"<answer>{problem.answer}</answer>")


def test_teacher_takes_the_shortcut_only_on_long_problems_at_its_rate():
    cfg = ArithmeticConfig(min_steps=2, max_steps=3, shortcut_rate=0.6, shortcut_min_steps=3)
    problems = generate(cfg, "train", 2000, seed=0)
    rng = random.Random(0)
    demos = [(p, teacher_completion(p, rng, cfg)) for p in problems]
    short = [d for p, d in demos if len(p.steps) == 2]
    long = [(p, d) for p, d in demos if len(p.steps) == 3]
    assert all(d == p.completion for p, d in demos if len(p.steps) == 2) and short
    shortcut = [d for p, d in long if d != p.completion]
    assert 0.5 < len(shortcut) / len(long) < 0.7
    p, d = next((p, d) for p, d in long if d != p.completion)
    assert d.endswith(f"<answer>{p.values[-2]}</answer>") and p.steps[-1] not in d


@pytest.mark.parametrize(
    "kwargs, message",
    [({"ops": ["/"]}, "data.arithmetic.ops"), ({"min_steps": 3, "max_steps": 2}, "min_steps"), ({"shortcut_rate": 2}, "shortcut_rate")],
)
def test_bad_knobs_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArithmeticConfig(**kwargs)


def test_asking_for_more_problems_than_exist_says_which_knobs_to_raise():
    with pytest.raises(ValueError, match="raise data.max_steps"):
        generate(ArithmeticConfig(max_start=2, max_operand=1, ops=["+"], max_steps=2), "train", 100, seed=0)
