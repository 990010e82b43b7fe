"""The rollout stage: sample with vLLM, score with the reward registry, keep by rejection sampling, and
hand the kept completions to the next SFT stage."""

import json

import pandas as pd
import pytest

from rlreason.stages import rollout, sft

pytest.importorskip("vllm")


def test_rejection_sampling_keeps_passing_or_each_prompts_best():
    rows = [
        {"prompt_index": 0, "total": 1.1},
        {"prompt_index": 0, "total": 0.1},
        {"prompt_index": 1, "total": 0.0},
        {"prompt_index": 1, "total": 1.0},
        {"prompt_index": 1, "total": 1.05},
        {"prompt_index": 2, "total": 0.2},
    ]
    assert rollout._kept(rows, "all", 1.0) == [True] * 6
    assert rollout._kept(rows, "passing", 1.0) == [True, False, False, True, True, False]
    assert rollout._kept(rows, "best", 1.0) == [True, False, False, False, True, False]


def test_rollouts_are_scored_written_and_feed_the_next_sft(tmp_path, initialized_run):
    cfg, run = initialized_run(
        tmp_path,
        [
            "logger=none",
            "model.tiny_moe.tokenizer_corpus_size=200",
            "data.tool_calling.grpo_size=4",
            "rejection_sampling.size=6",
            "rejection_sampling.num_completions=3",
            "rejection_sampling.max_tokens=8",
            "rejection_sampling.keep=all",
            "reward=all_scenario",
            "sft.rejection_sampling.max_steps=2",
        ],
    )
    result = rollout.run(cfg, run)
    run.record("rollout", "completed", 0.0, result)
    frame = pd.read_parquet(tmp_path / "rollout" / "rollouts.parquet")
    assert len(frame) == result.metrics["completions"] == 18 == result.metrics["kept"]
    assert {"prompt", "completion", "task", "total", "prompt_tokens", "completion_tokens", "kept"} <= set(frame.columns)
    assert {"reward/accuracy", "reward/format", "reward/tool_calling", "reward/safety"} <= set(frame.columns)
    assert (frame["completion_tokens"] <= 8).all() and (frame["prompt_tokens"] > 0).all()
    tool_rows = frame[frame["task"] == "tool_calling"]
    assert tool_rows["reward/accuracy"].isna().all() and tool_rows["reward/tool_calling"].notna().all()
    kept = [json.loads(line) for line in (tmp_path / "rollout" / "sft.jsonl").read_text().splitlines()]
    assert len(kept) == 18 and kept[0]["completion"][0]["role"] == "assistant"

    dataset, max_steps, learning_rate = sft.training_data(cfg, run)
    assert (max_steps, learning_rate) == (2, cfg.sft.rejection_sampling.learning_rate)
    skills = cfg.data.tool_calling.sft_size + cfg.data.safety.sft_size
    assert dataset.num_rows == 18 + skills
