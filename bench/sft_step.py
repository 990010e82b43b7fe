"""Seconds per cold-start SFT step of the default tiny MoE on the default SFT data, by how the step is run.

The SFT stage's step is 32 conversations of up to ~160 tokens (68 on average). Drawn at random into one batch,
each is padded to the longest of the 32, so about half of what the step computes is padding.
``sft.train_sampling_strategy=batch_rebalance`` with ``sft.gradient_accumulation_steps=2`` (the default) splits the
same 32 by length into two micro-batches (transformers' ``BatchRebalanceSampler``), so a step computes the same
loss over fewer padded tokens. The CPU's bf16 units (AMX, AVX-512-BF16) are the other lever: each layout also runs
under bf16 autocast.

Each row trains the same freshly built tiny MoE (``rlreason``'s init stage, seed 0) with AdamW for ``--steps``
steps after two warm-up steps, on the same steps' conversations (the default data, ``rlreason``'s mixer and the
tiny tokenizer's chat template), and reports seconds per step, padded tokens per real token, and the ratio to the
first row (fp32, one batch: the layout before ``batch_rebalance``). Ends with one JSON line::

    {"fp32 1 batch": {"seconds_per_step": ..., "padded_per_real_token": ..., "vs_baseline": 1.0}, ...}

Usage: python bench/sft_step.py [--steps 30] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM
from transformers.trainer_pt_utils import BatchRebalanceSampler

from rlreason.config import compose
from rlreason.data.mixer import sft_dataset
from rlreason.models.loading import load_tokenizer
from rlreason.stages import init
from rlreason.stages.contract import Run

BATCH = 32


def conversations(cfg, tokenizer) -> list[list[int]]:
    """Each SFT row's token ids as the tiny MoE's chat template renders it."""
    ids = []
    for row in sft_dataset(cfg.data, cfg.seed):
        tools = {"tools": json.loads(row["tools"])} if row.get("tools") else {}
        rendered = tokenizer.apply_chat_template(row["prompt"] + row["completion"], return_dict=True, **tools)
        ids.append(rendered["input_ids"][: cfg.sft.max_length])
    return ids


def padded(rows: list[list[int]], tokenizer) -> dict:
    """One micro-batch, right-padded to its longest row (as TRL's collator pads), labels on the real tokens."""
    batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt", padding_side="right")
    return {**batch, "labels": batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)}


def steps_of(ids: list[list[int]], micro_batches: int, steps: int) -> list[list[list[int]]]:
    """``steps`` steps of BATCH conversations, each as its micro-batches' row indices."""
    sampler = BatchRebalanceSampler(
        [len(i) for i in ids], effective_batch_size=BATCH, dp_size=1, grad_accum=micro_batches, seed=0
    )
    batches = list(sampler)[: steps * micro_batches]
    return [batches[i : i + micro_batches] for i in range(0, len(batches), micro_batches)]


def time_steps(path, ids, steps, tokenizer, bf16: bool) -> tuple[float, float]:
    """(seconds per step, padded tokens per real token) of training ``path`` on ``steps``."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.config.output_router_logits = True  # as TRL trains an MoE: the load-balancing loss in each step
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    seconds = padded_tokens = real_tokens = 0.0
    for n, step in enumerate(steps):
        start = time.perf_counter()
        for micro in step:
            batch = padded([ids[i] for i in micro], tokenizer)
            with autocast:
                loss = model(**batch).loss * len(micro) / BATCH
            loss.backward()
            if n >= 2:
                padded_tokens += batch["input_ids"].numel()
                real_tokens += batch["attention_mask"].sum().item()
        optimizer.step()
        optimizer.zero_grad()
        if n >= 2:  # two warm-up steps
            seconds += time.perf_counter() - start
    return seconds / (len(steps) - 2), padded_tokens / real_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([f"run_dir={tmp}", "logger=none"])
        path = init.run(cfg, Run(tmp)).checkpoint
        tokenizer = load_tokenizer(path)
        ids = conversations(cfg, tokenizer)
        results = {}
        for micro_batches in (1, 2, 4):
            steps = steps_of(ids, micro_batches, args.steps + 2)
            for bf16 in (False, True):
                name = f"{'bf16 autocast' if bf16 else 'fp32'} {micro_batches} batch{'es' * (micro_batches > 1)}"
                seconds, padding = time_steps(path, ids, steps, tokenizer, bf16)
                baseline = results.get("fp32 1 batch", {}).get("seconds_per_step", seconds)
                results[name] = {
                    "seconds_per_step": round(seconds, 4),
                    "padded_per_real_token": round(padding, 3),
                    "vs_baseline": round(seconds / baseline, 3),
                }
                print(f"{name:24} {seconds:7.3f} s/step  padded/real {padding:5.2f}  x{seconds / baseline:5.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
