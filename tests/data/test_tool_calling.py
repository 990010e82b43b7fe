from collections import Counter

from rlreason.data import tool_calling
from rlreason.evals.function_calling import check, render_expected


def test_every_category_and_gold_targets_pass_the_checker():
    examples = tool_calling.generate("train", 300, seed=0)
    assert set(Counter(e.category for e in examples)) == {"simple", "multiple", "parallel", "irrelevance"}
    for example in examples:
        assert check(render_expected(example), example).correct, example
        offered = {f["name"] for f in example.functions}
        called = {name for call in example.expected for name in call}
        assert called <= offered
        if example.category == "parallel":
            assert len(example.expected) == 2
        if example.category == "irrelevance":
            assert not example.expected


def test_test_requests_never_appear_in_training_and_generation_is_seeded():
    train = tool_calling.generate("train", 1200, seed=0)
    test = tool_calling.generate("test", 200, seed=0)
    train_calls = {str(e.expected) for e in train if e.expected}
    assert not train_calls & {str(e.expected) for e in test if e.expected}
    assert [e.prompt for e in test] == [e.prompt for e in tool_calling.generate("test", 200, seed=0)]
    assert [e.prompt for e in test] != [e.prompt for e in tool_calling.generate("test", 200, seed=1)]
