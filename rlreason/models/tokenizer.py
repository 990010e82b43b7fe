"""Byte-level BPE tokenizer trained on the project's own corpus, with a chat template.

``<think>``, ``</think>``, ``<answer>`` and ``</answer>`` are added as *ordinary* tokens: TRL decodes
completions with ``skip_special_tokens=True``, so registering them as special tokens would strip them from
every completion and the format reward would always read 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tokenizers and transformers load when a tokenizer is trained, not with the config schema
    from transformers import PreTrainedTokenizerFast

REASONING_TAGS = ("<think>", "</think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>")
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# ChatML, as Qwen models use it; `{% generation %}` marks what the assistant says so TRL can mask the rest.
# Tools passed as `apply_chat_template(..., tools=[json_schema, ...])` (bare or OpenAI-style
# {"type": "function", "function": ...}) are listed in a system turn, one signature line each:
#   get_weather(city: string, unit?: celsius|fahrenheit) - Current weather in a city
# (`?`: optional; an enum lists its values). Signatures rather than raw JSON, as Functionary-style templates
# do: a schema costs a tiny model ~60 tokens of JSON punctuation, a signature ~15.
CHAT_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>system\nTools:\n' }}"
    "{% for tool in tools %}{% set f = tool.function if tool.function is defined else tool %}"
    "{% set required = f.parameters.required if f.parameters.required is defined else [] %}"
    "{{ f.name + '(' }}"
    "{% for name, spec in f.parameters.properties.items() %}"
    "{% if not loop.first %}{{ ', ' }}{% endif %}{{ name }}{% if name not in required %}{{ '?' }}{% endif %}{{ ': ' }}"
    "{% if spec.enum is defined %}{{ spec.enum | join('|') }}{% else %}{{ spec.type }}{% endif %}"
    "{% endfor %}{{ ')' }}{% if f.description %}{{ ' - ' + f.description }}{% endif %}{{ '\n' }}"
    "{% endfor %}"
    "{{ '<|im_end|>\n' }}"
    "{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def render(messages: list[dict], tools: list[dict] | None = None) -> str:
    """A conversation as the chat template renders it, without a tokenizer (for the tokenizer's own corpus)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(conversations=[messages], tools=tools, chat_template=CHAT_TEMPLATE)
    return rendered[0]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (digits split one by one, as Qwen does) and wrap it for transformers."""
    from tokenizers import AddedToken as RawAddedToken
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_tokens([RawAddedToken(tag, special=False, normalized=False) for tag in REASONING_TAGS])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=512,
    )
    # Re-register through transformers too so `save_pretrained` records them as non-special.
    wrapped.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in REASONING_TAGS])
    return wrapped
