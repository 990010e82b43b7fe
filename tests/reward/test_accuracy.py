from rlreason.reward.accuracy import accuracy, is_correct


def test_accepts_strings_and_chat_messages():
    completions = ["<think>1+1=2</think><answer>2</answer>", [{"role": "assistant", "content": "<answer>3</answer>"}]]
    assert accuracy(completions, answer=["2", "2"]) == [1.0, 0.0]


def test_equivalent_forms_match():
    assert is_correct("0.5", "1/2")
    assert is_correct("\\frac{1}{2}", "0.5")
    assert is_correct(" 12 ", "12")


def test_missing_or_empty_answers_are_wrong():
    assert accuracy(["<think>1+1=2</think>", "<answer></answer>", ""], answer=["2", "2", "2"]) == [0.0, 0.0, 0.0]


def test_the_last_answer_tag_counts():
    assert accuracy(["<answer>3</answer> no, <answer>2</answer>"], answer=["2"]) == [1.0]


def test_rows_without_a_gold_answer_are_left_to_other_rewards():
    assert accuracy(["<answer>2</answer>", "<tool_call>{}</tool_call>"], answer=["2", None]) == [1.0, None]
