"""The tokenizer pitfall: reasoning tags must be ordinary added tokens, or TRL's decoding strips them."""

from transformers import AutoTokenizer

from rlreason.models.tokenizer import REASONING_TAGS, render, train_tokenizer

TEXTS = [
    "user\nassistant\n",
    "Mia has 7 pens. Mia buys 5 more. How many pens now?\n<think>7+5=12</think><answer>12</answer>",
] * 50


def test_reasoning_tags_are_single_non_special_tokens(tmp_path):
    train_tokenizer(TEXTS, vocab_size=300).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)  # what every stage does
    for tag in REASONING_TAGS:
        ids = tokenizer(tag, add_special_tokens=False).input_ids
        assert len(ids) == 1, tag
        assert ids[0] not in tokenizer.all_special_ids, tag


def test_tags_survive_decoding_with_skip_special_tokens(tmp_path):
    train_tokenizer(TEXTS, vocab_size=300).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    text = "<think>7+5=12</think><answer>12</answer>"
    ids = tokenizer(text + tokenizer.eos_token, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_chat_template_wraps_turns_and_opens_the_assistant_turn():
    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"


def test_digits_are_split_one_by_one():
    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    assert tokenizer.tokenize("123") == ["1", "2", "3"]


def test_tools_render_as_signature_lines_in_a_system_turn():
    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    weather = {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    }
    timer = {
        "type": "function",
        "function": {
            "name": "set_timer",
            "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}},
        },
    }
    messages = [{"role": "user", "content": "hi"}]
    rendered = tokenizer.apply_chat_template(
        messages, tools=[weather, timer], tokenize=False, add_generation_prompt=True
    )
    assert rendered == (
        "<|im_start|>system\nTools:\n"
        "get_weather(city: string, unit?: c|f) - Current weather\n"
        "set_timer(minutes?: integer)\n"
        "<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render(messages, tools=[weather, timer]) + "<|im_start|>assistant\n" == rendered
