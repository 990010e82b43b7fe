from rlreason.evals.reasoning import score


def test_score_averages_over_every_sample_and_counts_format():
    completions = [
        ["<think>1+1=2</think><answer>2</answer>", "<answer>2</answer>"],
        ["<think>2+2=5</think><answer>5</answer>", "<think>2+2=4</think><answer>4</answer>"],
    ]
    accuracy, format_rate = score(completions, ["2", "4"])
    assert accuracy == 0.75
    assert format_rate == 0.75
