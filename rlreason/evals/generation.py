"""Generation for evals, with Hugging Face ``generate`` or a vLLM engine (``eval.engine``).

Both take conversational prompts (and optional per-prompt function schemas for the chat template) and return
``num_samples`` decoded completions per prompt, greedy at ``temperature=0``, reproducible from a seed. Every
checkpoint is generated for with the same engine, decoding and seed, so their scores compare.

The vLLM generator starts one engine for the whole eval stage and swaps each later checkpoint's weights in
place (the same reload and CPU expert repack the GRPO weight sync uses), instead of paying an engine start
per checkpoint; a checkpoint with a different architecture gets a fresh engine.
"""

from __future__ import annotations

import functools
import gc

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from rlreason.rollout.engine import start_llm
from rlreason.rollout.weight_sync import load_checkpoint_into_vllm


def load_tokenizer(path: str):
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"  # decoder-only batches must be padded on the left to generate
    return tokenizer


class HFGenerator:
    """Batched ``model.generate``; sampling is seeded through torch's global generator, per call."""

    def __init__(self, device: str, batch_size: int):
        self.device, self.batch_size = device, batch_size
        self.model = self.tokenizer = None

    def load(self, checkpoint: str) -> None:
        self.tokenizer = load_tokenizer(checkpoint)
        self.model = AutoModelForCausalLM.from_pretrained(checkpoint).to(self.device).eval()
        self.model.config.output_router_logits = False  # router logits during generate crash transformers' MoE

    @torch.no_grad()
    def generate(self, prompts: list, *, max_new_tokens: int, temperature: float = 0.0, num_samples: int = 1,
                 seed: int = 0, tools: list | None = None, desc: str = "generate") -> list[list[str]]:
        tokenizer = self.tokenizer
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
        for start in tqdm(range(0, len(texts), self.batch_size), desc=desc, leave=False):
            batch = tokenizer(texts[start : start + self.batch_size], return_tensors="pt", padding=True).to(self.model.device)
            out = self.model.generate(
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

    def close(self) -> None:
        self.model = None


# Config keys that do not change the network an engine runs (SFT saves use_cache=false, init true).
RUNTIME_ONLY_KEYS = ("_name_or_path", "transformers_version", "use_cache", "output_router_logits")


def _architecture(checkpoint: str) -> dict:
    """What an engine is built for: the checkpoint's config, less the keys that do not shape the network."""
    config = AutoConfig.from_pretrained(checkpoint).to_dict()
    return {k: v for k, v in config.items() if k not in RUNTIME_ONLY_KEYS}


def _reload_checkpoint(worker, checkpoint: str) -> None:
    """Runs in each vLLM worker (``LLM.collective_rpc``), in process or not."""
    load_checkpoint_into_vllm(worker.model_runner, checkpoint)


class VLLMGenerator:
    """A vLLM engine with the settings of ``conf/rollout/``, reused across checkpoints of one architecture.

    Prompts go in as token ids and completions are decoded here, with the checkpoint's own tokenizer, exactly
    as the HF generator does. Sampled requests carry their own seeds (``seed + prompt index * num_samples``,
    one per sample), so a prompt's samples do not depend on batching, on the other prompts, or on the
    checkpoints evaluated before it.
    """

    def __init__(self, device: str, seed: int, rollout):
        self.device, self.seed, self.rollout = device, seed, rollout
        self.llm = self.tokenizer = self.architecture = None

    def load(self, checkpoint: str) -> None:
        self.tokenizer = load_tokenizer(checkpoint)
        architecture = _architecture(checkpoint)
        if self.llm is not None and architecture == self.architecture:
            self.llm.collective_rpc(_reload_checkpoint, args=(checkpoint,))
            self.llm.reset_prefix_cache()  # cached prompt KV was computed by the previous checkpoint's weights
            return
        self.close()
        # Sized for the model, not for the GRPO completions of conf/rollout (eval prompts carry tool schemas).
        # Whole prefills: vLLM's CPU runner crashes rewinding a seeded request's generator after a partial one.
        self.llm = start_llm(checkpoint, device=self.device, seed=self.seed, rollout=self.rollout,
                             max_model_len=None, enable_chunked_prefill=False)
        self.architecture = architecture

    def generate(self, prompts: list, *, max_new_tokens: int, temperature: float = 0.0, num_samples: int = 1,
                 seed: int = 0, tools: list | None = None, desc: str = "generate") -> list[list[str]]:
        from vllm import SamplingParams

        tools = tools or [None] * len(prompts)
        requests = [
            {"prompt_token_ids": self.tokenizer.apply_chat_template(p, tools=t, add_generation_prompt=True, return_dict=False)}
            for p, t in zip(prompts, tools, strict=True)
        ]
        sampling = temperature > 0
        params = [
            SamplingParams(
                n=num_samples, temperature=temperature, max_tokens=max_new_tokens, detokenize=False,
                seed=seed + i * num_samples if sampling else None,
            )
            for i in range(len(requests))
        ]
        outputs = self.llm.generate(requests, params, use_tqdm=functools.partial(tqdm, desc=desc, leave=False))
        return [
            self.tokenizer.batch_decode([list(c.token_ids) for c in output.outputs], skip_special_tokens=True)
            for output in outputs
        ]

    def close(self) -> None:
        if self.llm is not None:
            self.llm = None
            gc.collect()
