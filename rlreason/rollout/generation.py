"""Generation from a checkpoint, with Hugging Face ``generate`` or a vLLM engine: what the rollout and eval
stages sample with (GRPO samples inside TRL's trainer, through :mod:`rlreason.rollout.colocate` /
:mod:`rlreason.rollout.server` on CPU).

Both generators take conversational prompts (and optional per-prompt tool schemas for the chat template)
and return ``num_samples`` completions per prompt, greedy at ``temperature=0``, reproducible from a seed;
``generate`` decodes them, ``generate_ids`` returns token ids. Every checkpoint is generated for with the
same engine, decoding and seed, so their scores compare.

The vLLM generator starts one engine and swaps each later checkpoint's weights in place (the same reload and
CPU expert repack the GRPO weight sync uses), instead of paying an engine start per checkpoint; a checkpoint
with a different architecture gets a fresh engine.
"""

from __future__ import annotations

import functools
import gc

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig

from rlreason.models.chat import render_prompt
from rlreason.models.loading import load_policy, load_tokenizer
from rlreason.rollout.engine import start_llm, uses_vllm
from rlreason.rollout.weight_sync import load_checkpoint_into_vllm

# (prompt token ids per prompt, completion token ids per prompt and sample)
TokenIds = tuple[list[list[int]], list[list[list[int]]]]


class Generator:
    """What both generators share: the loaded tokenizer, and decoding."""

    tokenizer = None

    def generate_ids(self, prompts: list, **kwargs) -> TokenIds:
        raise NotImplementedError

    def generate(self, prompts: list, **kwargs) -> list[list[str]]:
        """``num_samples`` decoded completions for each prompt (see ``generate_ids`` for the arguments)."""
        _, completions = self.generate_ids(prompts, **kwargs)
        return [self.tokenizer.batch_decode(samples, skip_special_tokens=True) for samples in completions]

    def text_logprobs(self, texts: list[str], *, max_length: int) -> list[list[float]]:
        """The log-probability of every token of each plain text (no chat template) after the ones before it,
        its first ``max_length`` tokens scored; the first token has no context and is left out."""
        raise NotImplementedError

    def _text_ids(self, texts: list[str], max_length: int) -> list[list[int]]:
        ids = [self.tokenizer(text)["input_ids"][:max_length] for text in texts]
        short = next((i for i, t in enumerate(ids) if len(t) < 2), None)
        if short is not None:
            raise ValueError(f"text {short} has {len(ids[short])} token(s): scoring a text needs at least 2")
        return ids


class HFGenerator(Generator):
    """Batched ``model.generate``; sampling is seeded through torch's global generator, per call."""

    def __init__(self, device: str, batch_size: int):
        self.device, self.batch_size = device, batch_size
        self.model = None

    def load(self, checkpoint: str) -> None:
        self.tokenizer = load_tokenizer(checkpoint, padding_side="left")  # decoder-only batches pad on the left
        self.model = load_policy(checkpoint).to(self.device).eval()

    @torch.no_grad()
    def generate_ids(
        self,
        prompts: list,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        num_samples: int = 1,
        seed: int = 0,
        tools: list | None = None,
        desc: str = "generate",
    ) -> TokenIds:
        tokenizer = self.tokenizer
        tools = tools or [None] * len(prompts)
        texts = [render_prompt(tokenizer, p, t) for p, t in zip(prompts, tools, strict=True)]
        sampling = temperature > 0
        kwargs = (
            {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
            if sampling
            else {"do_sample": False}
        )
        generator_seed = torch.random.initial_seed()
        torch.manual_seed(seed)
        prompt_ids: list[list[int]] = []
        completions: list[list[list[int]]] = [[] for _ in prompts]
        for start in tqdm(range(0, len(texts), self.batch_size), desc=desc, leave=False):
            batch = tokenizer(texts[start : start + self.batch_size], return_tensors="pt", padding=True).to(
                self.model.device
            )
            out = self.model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                num_return_sequences=num_samples,
                pad_token_id=tokenizer.pad_token_id,
                **kwargs,
            )
            prompt_ids += [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
            for i, ids in enumerate(out[:, batch["input_ids"].shape[1] :].tolist()):
                completions[start + i // num_samples].append(_until_eos(ids, tokenizer))
        torch.manual_seed(generator_seed)
        return prompt_ids, completions

    @torch.no_grad()
    def text_logprobs(self, texts: list[str], *, max_length: int) -> list[list[float]]:
        scored = []
        for ids in tqdm(self._text_ids(texts, max_length), desc="text log-probabilities", leave=False):
            tokens = torch.tensor([ids], device=self.model.device)
            logits = self.model(tokens).logits[0, :-1].float()
            scored.append(torch.log_softmax(logits, -1).gather(1, tokens[0, 1:, None])[:, 0].tolist())
        return scored

    def close(self) -> None:
        self.model = None


def _until_eos(ids: list[int], tokenizer) -> list[int]:
    """A generated row up to and including its end-of-sequence token (``generate`` pads the rest)."""
    if tokenizer.eos_token_id in ids:
        return ids[: ids.index(tokenizer.eos_token_id) + 1]
    return ids


# Config keys that do not change the network an engine runs (SFT saves use_cache=false, init true).
RUNTIME_ONLY_KEYS = ("_name_or_path", "transformers_version", "use_cache", "output_router_logits")


def _architecture(checkpoint: str) -> dict:
    """What an engine is built for: the checkpoint's config, less the keys that do not shape the network."""
    config = AutoConfig.from_pretrained(checkpoint).to_dict()
    return {k: v for k, v in config.items() if k not in RUNTIME_ONLY_KEYS}


def _reload_checkpoint(worker, checkpoint: str) -> None:
    """Runs in each vLLM worker (``LLM.collective_rpc``), in process or not."""
    load_checkpoint_into_vllm(worker.model_runner, checkpoint)


class VLLMGenerator(Generator):
    """A vLLM engine with the settings of ``conf/rollout/``, reused across checkpoints of one architecture.

    Prompts go in as token ids and completions come back as token ids, decoded with the checkpoint's own
    tokenizer exactly as the HF generator does. Sampled requests carry their own seeds (``seed + prompt index
    * num_samples``, one per sample), so a prompt's samples do not depend on batching, on the other prompts,
    or on the checkpoints generated for before it.
    """

    def __init__(self, device: str, seed: int, rollout):
        self.device, self.seed, self.rollout = device, seed, rollout
        self.llm = self.architecture = None

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
        self.llm = start_llm(
            checkpoint,
            device=self.device,
            seed=self.seed,
            rollout=self.rollout,
            max_model_len=None,
            enable_chunked_prefill=False,
        )
        self.architecture = architecture

    def generate_ids(
        self,
        prompts: list,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        num_samples: int = 1,
        seed: int = 0,
        tools: list | None = None,
        desc: str = "generate",
    ) -> TokenIds:
        from vllm import SamplingParams

        tools = tools or [None] * len(prompts)
        prompt_ids = [render_prompt(self.tokenizer, p, t, tokenize=True) for p, t in zip(prompts, tools, strict=True)]
        sampling = temperature > 0
        params = [
            SamplingParams(
                n=num_samples,
                temperature=temperature,
                max_tokens=max_new_tokens,
                detokenize=False,
                seed=seed + i * num_samples if sampling else None,
            )
            for i in range(len(prompt_ids))
        ]
        requests = [{"prompt_token_ids": ids} for ids in prompt_ids]
        outputs = self.llm.generate(requests, params, use_tqdm=functools.partial(tqdm, desc=desc, leave=False))
        return prompt_ids, [[list(c.token_ids) for c in output.outputs] for output in outputs]

    def text_logprobs(self, texts: list[str], *, max_length: int) -> list[list[float]]:
        """From vLLM's prompt log-probabilities (raw logits, before any sampling processor)."""
        from vllm import SamplingParams

        ids = self._text_ids(texts, max_length)
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)
        outputs = self.llm.generate(
            [{"prompt_token_ids": t} for t in ids],
            params,
            use_tqdm=functools.partial(tqdm, desc="text log-probabilities", leave=False),
        )
        return [
            [entry[token].logprob for entry, token in zip(o.prompt_logprobs[1:], t[1:])] for o, t in zip(outputs, ids)
        ]

    def close(self) -> None:
        if self.llm is not None:
            self.llm = None
            gc.collect()


def build_generator(
    engine, setting: str, *, device: str, seed: int, rollout, batch_size: int, checkpoint: str
) -> Generator:
    """A generator for ``engine`` (the value of config key ``setting``): vLLM where installed and able to run
    ``checkpoint``'s architecture on ``device`` (settings of ``conf/rollout``), else Hugging Face generate,
    ``batch_size`` prompts at a time."""
    if uses_vllm(engine, setting, device=device, config=AutoConfig.from_pretrained(checkpoint)):
        return VLLMGenerator(device, seed, rollout)
    return HFGenerator(device, batch_size)
