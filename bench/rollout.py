"""Rollout speed: vLLM vs Hugging Face generate on the tiny MoE, and GRPO step time with each engine.

Both engines run in this one process on the same checkpoint, prompts and sampling (T=1, fixed length), so
the figures are ratios on the same machine state. GRPO is timed with HF rollouts, with the default colocated
vLLM engine, and with that engine plus TRL's importance-sampling correction (``vllm_colocate_is``: one more
policy forward per step; the CPU default leaves it off). Ends with one JSON line::

    {"hf_tokens_per_s": ..., "vllm_tokens_per_s": ..., "vllm_over_hf": ...,
     "grpo_step_s": {"hf": ..., "vllm_colocate": ..., "vllm_colocate_is": ...},
     "grpo_generation_share": {...}, "grpo_hf_over_vllm_step_time": ...}

Usage: python bench/rollout.py [--prompts 64] [--samples 8] [--tokens 48] [--grpo-steps 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def build_checkpoint(run_dir: str, seed: int) -> str:
    """The default tiny MoE and tokenizer, as the init stage builds them."""
    from rlreason.cli import CONFIG_MODULE
    from rlreason.pipeline import Run
    from rlreason.stages import init
    from rlreason.validation import validate

    cfg = validate(CONFIG_MODULE, [f"run_dir={run_dir}", f"seed={seed}", "logger=none"])
    run = Run(run_dir)
    run.record("init", "completed", 0.0, init.run(cfg, run))
    return run.latest_checkpoint()


def prompt_ids(tokenizer, count: int, seed: int) -> list[list[int]]:
    from rlreason.config import DataConfig
    from rlreason.data.loaders import grpo_dataset

    rows = grpo_dataset(DataConfig(grpo_size=count), seed)
    return [tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, return_dict=False) for row in rows]


def hf_tokens_per_s(model, tokenizer, prompts, samples: int, tokens: int) -> float:
    import torch

    tokenizer.padding_side = "left"
    batch = tokenizer.pad({"input_ids": prompts}, return_tensors="pt")
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            **batch, do_sample=True, temperature=1.0, top_k=0, max_new_tokens=tokens, min_new_tokens=tokens,
            num_return_sequences=samples, pad_token_id=tokenizer.pad_token_id,
        )
    elapsed = time.perf_counter() - start
    return (out.shape[0] * (out.shape[1] - batch["input_ids"].shape[1])) / elapsed


def vllm_tokens_per_s(llm, prompts, samples: int, tokens: int) -> float:
    from vllm import SamplingParams

    params = SamplingParams(n=samples, temperature=1.0, max_tokens=tokens, ignore_eos=True)
    start = time.perf_counter()
    outputs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    return sum(len(c.token_ids) for o in outputs for c in o.outputs) / elapsed


GRPO_ENGINES = {
    "hf": ["rollout=hf"],
    "vllm_colocate": ["rollout=vllm_colocate"],
    "vllm_colocate_is": ["rollout=vllm_colocate", "rollout.importance_sampling_correction=true"],
}


def grpo_timing(checkpoint: str, engine: str, steps: int, seed: int, run_dir: str) -> tuple[float, float]:
    """Mean GRPO step time (after a warm-up step) and the share of it spent generating."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlreason.cli import CONFIG_MODULE
    from rlreason.data.loaders import grpo_dataset
    from rlreason.rewards import build_rewards
    from rlreason.rollout.trainer import RolloutGRPOTrainer
    from rlreason.stages import grpo
    from rlreason.validation import validate

    cfg = validate(CONFIG_MODULE, [f"run_dir={run_dir}", f"seed={seed}", "logger=none", *GRPO_ENGINES[engine], f"grpo.max_steps={steps + 1}"])
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    rewards = build_rewards(cfg.reward)
    args = grpo.grpo_config(cfg, f"{run_dir}/{engine}", [r.weight for r in rewards], "cpu")
    args.save_strategy = "no"

    class Timed(RolloutGRPOTrainer):
        generation_s: list[float] = []
        step_starts: list[float] = []

        def _generate(self, *a, **k):
            start = time.perf_counter()
            try:
                return super()._generate(*a, **k)
            finally:
                self.generation_s.append(time.perf_counter() - start)

        def training_step(self, *a, **k):
            self.step_starts.append(time.perf_counter())
            return super().training_step(*a, **k)

    trainer = Timed(
        model=model, reward_funcs=[r.fn for r in rewards], args=args,
        train_dataset=grpo_dataset(cfg.data, seed, tokenizer), processing_class=tokenizer,
        cpu_engine=grpo.cpu_engine_args(cfg, args, model, "cpu"),
    )
    trainer.train()
    end = time.perf_counter()
    starts = Timed.step_starts[1:] + [end]  # drop the warm-up step
    step_s = (starts[-1] - starts[0]) / (len(starts) - 1)
    share = sum(Timed.generation_s[1:]) / (starts[-1] - starts[0])
    return step_s, share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--grpo-steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlreason.cli import CONFIG_MODULE
    from rlreason.rollout.engine import start_llm
    from rlreason.validation import validate

    torch.manual_seed(options.seed)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = build_checkpoint(tmp, options.seed)
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        model = AutoModelForCausalLM.from_pretrained(checkpoint)
        prompts = prompt_ids(tokenizer, options.prompts, options.seed)
        hf = hf_tokens_per_s(model, tokenizer, prompts, options.samples, options.tokens)

        rollout = validate(CONFIG_MODULE, [f"run_dir={tmp}"]).rollout
        llm = start_llm(checkpoint, device="cpu", dtype="float32", seed=options.seed, rollout=rollout)
        vllm_tokens_per_s(llm, prompts[:4], 1, 8)  # warm-up
        vllm = vllm_tokens_per_s(llm, prompts, options.samples, options.tokens)
        del llm

        step, share = {}, {}
        for engine in GRPO_ENGINES:
            step[engine], share[engine] = grpo_timing(checkpoint, engine, options.grpo_steps, options.seed, tmp)
    figures = {
        "prompts": options.prompts, "samples": options.samples, "tokens": options.tokens,
        "hf_tokens_per_s": round(hf, 1), "vllm_tokens_per_s": round(vllm, 1), "vllm_over_hf": round(vllm / hf, 2),
        "grpo_step_s": {k: round(v, 3) for k, v in step.items()},
        "grpo_generation_share": {k: round(v, 3) for k, v in share.items()},
        "grpo_hf_over_vllm_step_time": round(step["hf"] / step["vllm_colocate"], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
