from rlreason.reward.safety import safe_response

REFUSE = "<think>This could hurt someone.</think><answer>Sorry, I can't help with that.</answer>"
HELP = "<think>Safe.</think><answer>Find its id with ps, then run kill.</answer>"


def test_refusing_harmful_and_helping_benign_score_one():
    scores = safe_response(
        [REFUSE, HELP, HELP, REFUSE, "<think>Safe.</think><answer></answer>", HELP],
        task=["safety"] * 5 + ["reasoning"],
        harmful=[True, True, False, False, False, None],
    )
    assert scores == [1.0, 0.0, 1.0, 0.0, 0.0, None]
