"""The one place a conversation becomes model input: the checkpoint's own chat template."""

from __future__ import annotations


def render_prompt(tokenizer, prompt, tools: list[dict] | None = None, *, tokenize: bool = False):
    """``prompt`` (chat messages) as the model sees it before its reply, with ``tools`` (JSON schemas) listed
    by the template; text, or token ids with ``tokenize=True``."""
    return tokenizer.apply_chat_template(
        prompt, tools=tools or None, add_generation_prompt=True, tokenize=tokenize, return_dict=False
    )


def prompt_text(tokenizer, prompt, tools: list[dict] | None = None) -> str:
    """A prompt as the policy saw it: chat messages through its template (with the row's tools), text as is."""
    return render_prompt(tokenizer, prompt, tools) if isinstance(prompt, list) else prompt
