"""The SFT stage's choice of loss mask for multi-turn demonstrations: TRL's assistant-only loss where the chat
template marks (or TRL can mark) the assistant's turns, else one row per turn."""

from rlreason.models.tokenizer import train_tokenizer
from rlreason.stages.sft import trains_assistant_turns

# SmolLM2-Instruct's template: plain ChatML, no {% generation %} markers, not one TRL knows how to patch.
PLAIN_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_the_assistant_only_loss_is_used_only_where_the_template_marks_the_assistant_turns():
    tokenizer = train_tokenizer(["<|im_start|>user\nhi<|im_end|>"] * 10, vocab_size=300)
    assert trains_assistant_turns(tokenizer)  # the tiny MoE's template has {% generation %}
    tokenizer.chat_template = PLAIN_CHATML
    assert not trains_assistant_turns(tokenizer)
