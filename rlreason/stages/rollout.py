"""Stage **rollout**: sample completions from the latest checkpoint, score them, write a dataset.

Features:
- prompts: the first ``rejection_sampling.size`` rows of the GRPO data (every task in the mix, tools rendered by
  the chat template), ``rejection_sampling.num_completions`` samples each at ``rejection_sampling.temperature``,
  seeded per prompt;
- the engine of ``rollout.engine`` (vLLM, or Hugging Face ``generate`` with ``rollout=hf`` or without vLLM),
  through the generators the eval stage uses (``rlreason/rollout/generation.py``);
- every reward of ``reward.functions`` per completion (None where a reward does not apply), the weighted
  total, prompt and completion token counts;
- rejection sampling (``rejection_sampling.keep``): ``all``, ``passing`` (total >= ``rejection_sampling.min_reward``)
  or ``best`` (each prompt's best completion, if it passes) marks rows ``kept``;
- writes ``rollout/rollouts.parquet`` and ``.jsonl`` (every completion) and ``rollout/sft.jsonl`` (the kept
  ones as prompt-completion conversations). A later ``sft`` stage trains on that file: the R1 recipe's
  rejection-sampling SFT (``pipeline=r1_full``).
"""

from __future__ import annotations

import contextlib
import json
import math

from datasets import Dataset

from rlreason.data.mixer import grpo_rows, row_tools
from rlreason.models.chat import render_prompt
from rlreason.rewards import build_rewards
from rlreason.rewards.guard import call
from rlreason.rollout.generation import build_generator
from rlreason.runtime import resolve_device, seed_everything
from rlreason.stages.contract import StageResult

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = ("seed", "data", "rollout", "rejection_sampling", "reward")


def _total(scores: list[float | None], weights: list[float]) -> float:
    """Weighted sum over the rewards that apply (TRL's nansum)."""
    return sum(w * s for s, w in zip(scores, weights) if s is not None and not math.isnan(s))


def _kept(rows: list[dict], keep: str, min_reward: float) -> list[bool]:
    if keep == "all":
        return [True] * len(rows)
    passing = [row["total"] >= min_reward for row in rows]
    if keep == "passing":
        return passing
    best: dict[int, int] = {}
    for index, row in enumerate(rows):
        if passing[index] and (
            row["prompt_index"] not in best or row["total"] > rows[best[row["prompt_index"]]]["total"]
        ):
            best[row["prompt_index"]] = index
    chosen = set(best.values())
    return [index in chosen for index in range(len(rows))]


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    source = run.latest_checkpoint()
    out = run.stage_dir("rollout")
    r = cfg.rejection_sampling
    rows, _ = grpo_rows(cfg.data, cfg.seed)
    rows = rows[: r.size]
    rewards = build_rewards(cfg.reward)  # before sampling, so a bad reward spec fails in seconds
    generator = build_generator(
        cfg.rollout.engine,
        "rollout.engine",
        device=device,
        seed=cfg.seed,
        rollout=cfg.rollout,
        batch_size=r.batch_size,
        checkpoint=source,
    )
    with contextlib.closing(generator):
        generator.load(source)
        tools = [row_tools(row) for row in rows]
        prompt_ids, completion_ids = generator.generate_ids(
            [row["prompt"] for row in rows],
            tools=tools,
            max_new_tokens=r.max_tokens,
            temperature=r.temperature,
            num_samples=r.num_completions,
            seed=cfg.seed,
            desc="rollouts",
        )
        tokenizer = generator.tokenizer
    samples = []
    for index, (row, offered, prompt, completions) in enumerate(zip(rows, tools, prompt_ids, completion_ids)):
        text = render_prompt(tokenizer, row["prompt"], offered)
        for ids in completions:
            samples.append(
                {
                    "prompt_index": index,
                    "row": row,
                    "prompt_text": text,
                    "completion": tokenizer.decode(ids, skip_special_tokens=True),
                    "prompt_tokens": len(prompt),
                    "completion_tokens": len(ids),
                    "completion_ids": list(ids),
                }
            )
    # Rewards see what GRPO would pass them: the prompt and completion as chat messages, the completion's token
    # ids, the data columns.
    columns = {key: [s["row"][key] for s in samples] for key in rows[0] if key != "prompt"}
    columns["completion_ids"] = [s["completion_ids"] for s in samples]
    prompts = [s["row"]["prompt"] for s in samples]
    completions = [[{"role": "assistant", "content": s["completion"]}] for s in samples]
    scores = {reward.name: call(reward.fn, prompts=prompts, completions=completions, **columns) for reward in rewards}
    weights = [reward.weight for reward in rewards]
    records = []
    for i, sample in enumerate(samples):
        per_reward = [scores[reward.name][i] for reward in rewards]
        records.append(
            {
                "prompt_index": sample["prompt_index"],
                "prompt": sample["prompt_text"],
                "completion": sample["completion"],
                "task": sample["row"]["task"],
                **{f"reward/{reward.name}": value for reward, value in zip(rewards, per_reward)},
                "total": _total(per_reward, weights),
                "prompt_tokens": sample["prompt_tokens"],
                "completion_tokens": sample["completion_tokens"],
            }
        )
    for record, kept in zip(records, _kept(records, r.keep.value, r.min_reward)):
        record["kept"] = kept
    dataset = Dataset.from_list(records)
    dataset.to_parquet(str(out / "rollouts.parquet"))
    dataset.to_json(str(out / "rollouts.jsonl"), lines=True)
    sft_file = out / "sft.jsonl"
    with open(sft_file, "w", encoding="utf-8") as handle:
        for sample, record in zip(samples, records):
            if record["kept"]:
                handle.write(
                    json.dumps(
                        {
                            "prompt": sample["row"]["prompt"],
                            "completion": [{"role": "assistant", "content": sample["completion"]}],
                            "tools": sample["row"]["tools"],
                        }
                    )
                    + "\n"
                )
    kept = sum(r["kept"] for r in records)
    return StageResult(
        checkpoint=None,
        metrics={
            "completions": len(records),
            "kept": kept,
            "mean_total_reward": sum(r["total"] for r in records) / len(records),
            "sft_dataset": str(sft_file),
        },
    )
