from rlreason.evals.reasoning import score


def test_score_averages_over_every_sample_and_counts_format():
    completions = [
        ["<think>1+1=2</think><answer>2</answer>", "<answer>2</answer>"],
        ["<think>2+2=5</think><answer>5</answer>", "<think>2+2=4</think><answer>4</answer>"],
    ]
    accuracy, format_rate = score(completions, ["2", "4"])
    assert accuracy == 0.75
    assert format_rate == 0.75


def test_pass_at_k_needs_one_correct_sample_and_maj_at_k_the_most_voted_answer():
    from rlreason.evals.reasoning import majority_answer, pass_and_majority

    completions = [
        ["<answer>2</answer>", "<answer>3</answer>", "<answer>3</answer>"],  # pass, majority wrong
        ["<answer>4</answer>", "<answer>4.0</answer>", "<answer>5</answer>"],  # pass; '4' and '4.0' tie with 5, first wins
        ["no answer", "<answer>7</answer>", ""],  # pass, majority of the one answer given
        ["", "", ""],  # nothing
    ]
    assert pass_and_majority(completions, ["2", "4", "7", "1"]) == (0.75, 0.5)
    assert majority_answer(completions[1]) == "4"
    assert majority_answer(completions[3]) is None
