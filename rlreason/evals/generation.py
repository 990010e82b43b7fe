"""Batched Hugging Face generation for evals: greedy or sampled, reproducible from a seed."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer


def load_for_generation(path: str, device: str):
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"  # decoder-only batches must be padded on the left to generate
    model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
    model.config.output_router_logits = False  # router logits during generate crash transformers' MoE
    return model, tokenizer


@torch.no_grad()
def generate(model, tokenizer, prompts: list, *, max_new_tokens: int, batch_size: int, temperature: float = 0.0,
             num_samples: int = 1, seed: int = 0, tools: list | None = None, desc: str = "generate") -> list[list[str]]:
    """``num_samples`` completions per conversational prompt; ``temperature=0`` decodes greedily.

    ``tools``, when given, holds each prompt's function schemas for the chat template.
    """
    tools = tools or [None] * len(prompts)
    texts = [
        tokenizer.apply_chat_template(p, tools=t, tokenize=False, add_generation_prompt=True)
        for p, t in zip(prompts, tools, strict=True)
    ]
    sampling = temperature > 0
    kwargs = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if sampling else {"do_sample": False}
    generator_seed = torch.random.initial_seed()
    torch.manual_seed(seed)
    results: list[list[str]] = [[] for _ in prompts]
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, leave=False):
        batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True).to(model.device)
        out = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            num_return_sequences=num_samples,
            pad_token_id=tokenizer.pad_token_id,
            **kwargs,
        )
        decoded = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        for i, text in enumerate(decoded):
            results[start + i // num_samples].append(text)
    torch.manual_seed(generator_seed)
    return results
