from rlreason.data import safety
from rlreason.evals.safety import is_refusal


def test_targets_refuse_harmful_and_answer_benign_requests():
    for conversation in safety.generate("train", 300, seed=0):
        assert is_refusal(conversation.completion) == conversation.example.harmful


def test_test_split_holds_both_kinds_and_no_training_request():
    test = safety.generate("test", 500, seed=0)
    train = {c.example.prompt[0]["content"] for c in safety.generate("train", 2000, seed=0)}
    assert {c.example.harmful for c in test} == {True, False}
    assert len({c.example.prompt[0]["content"] for c in test}) == len(test)  # each held-out request once
    assert not train & {c.example.prompt[0]["content"] for c in test}
