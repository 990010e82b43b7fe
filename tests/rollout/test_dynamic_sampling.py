"""Dynamic sampling: groups whose rewards all agree are found, dropped and refilled from further prompts; the
batch keeps its size, its sequences are padded right, and the loss normaliser is counted anew."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlreason.data.mixer import grpo_dataset
from rlreason.rollout.dynamic_sampling import RefillPrompts, group_signal, merged
from rlreason.rollout.trainer import RolloutGRPOTrainer
from rlreason.stages import grpo


def test_groups_whose_advantages_are_all_zero_have_no_signal():
    advantages = torch.tensor([0.0, 0.0, 0.0, 1.2, -1.2, 0.0, 3e-13, -3e-13, 0.0])  # float noise counts as zero
    assert group_signal(advantages, 3).tolist() == [False, True, False]


def _batch(prompt_length, completion_length, advantages, fill):
    rows = len(advantages)
    return {
        "prompt_ids": torch.full((rows, prompt_length), fill),
        "prompt_mask": torch.ones(rows, prompt_length, dtype=torch.long),
        "completion_ids": torch.full((rows, completion_length), fill),
        "completion_mask": torch.ones(rows, completion_length, dtype=torch.long),
        "sampling_per_token_logps": torch.full((rows, completion_length), -1.0),
        "advantages": torch.tensor(advantages),
        "num_items_in_batch": torch.tensor(rows * completion_length),
    }


def test_groups_of_two_rounds_are_merged_with_prompts_padded_left_and_completions_right():
    first = _batch(3, 2, [0.0, 0.0, 1.0, -1.0], fill=7)
    second = _batch(5, 4, [2.0, -2.0, 0.0, 0.0], fill=8)
    batch = merged([first, second], [(0, 1), (1, 0)], group_size=2, pad_token_id=0)
    assert batch["prompt_ids"].tolist() == [[0, 0, 7, 7, 7]] * 2 + [[8] * 5] * 2
    assert batch["prompt_mask"].tolist() == [[0, 0, 1, 1, 1]] * 2 + [[1] * 5] * 2
    assert batch["completion_ids"].tolist() == [[7, 7, 0, 0]] * 2 + [[8] * 4] * 2
    assert batch["completion_mask"].sum().item() == 2 * 2 + 2 * 4
    assert batch["advantages"].tolist() == [1.0, -1.0, 2.0, -2.0]
    assert "num_items_in_batch" not in batch  # counted by the trainer, over every process


def test_a_multimodal_batch_is_refused_by_name():
    batch = {**_batch(2, 2, [1.0, -1.0], fill=1), "pixel_values": torch.zeros(2, 3)}
    with pytest.raises(ValueError, match=r"grpo.dynamic_sampling: rollouts carrying \['pixel_values'\]"):
        merged([batch], [(0, 0)], group_size=2, pad_token_id=0)


def test_refill_prompts_repeat_each_row_for_its_group_and_depend_on_the_step_not_on_history():
    rows = [{"prompt": str(i)} for i in range(5)]
    refill = RefillPrompts(rows, group_size=3, seed="1:0")
    taken = refill.take(7, step=4, round_=1)
    assert len(taken) == 21 and all(taken[i] == taken[i - i % 3] for i in range(21))
    assert {row["prompt"] for row in taken[:15]} == {str(i) for i in range(5)}  # distinct rows first
    refill.take(3, step=5, round_=1)
    assert taken == RefillPrompts(rows, group_size=3, seed="1:0").take(7, step=4, round_=1)  # as after a resume
    assert taken != refill.take(7, step=4, round_=2)


def half_the_prompts_teach_nothing(prompts, completions, **kwargs):
    """Every completion of a prompt whose text has even length scores 1 (a group with no signal); the others
    score their reply's length parity."""
    return [
        1.0 if len(prompt[-1]["content"]) % 2 == 0 else float(len(completion[0]["content"]) % 2)
        for prompt, completion in zip(prompts, completions)
    ]


def test_zero_signal_groups_are_replaced_by_refills_in_a_batch_of_the_same_size(tmp_path, initialized_run):
    overrides = [
        "logger=none",
        "rollout=hf",
        "grpo.max_steps=2",
        "grpo.prompts_per_step=4",
        "grpo.num_generations=4",
        "grpo.max_completion_length=8",
        "grpo.save_steps=100",
        "grpo.logging_steps=1",
        "grpo.dynamic_sampling.enabled=true",
        "grpo.dynamic_sampling.max_rounds=4",
        "data.reasoning.grpo_size=32",
        "model.tiny_moe.tokenizer_corpus_size=200",
    ]
    cfg, run = initialized_run(tmp_path, overrides)
    source = run.latest_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    args = grpo.grpo_config(cfg, str(tmp_path / "grpo"), [1.0], "cpu", model.config)
    dataset = grpo_dataset(cfg.data, cfg.seed, tokenizer)
    teach_nothing = [len(row["prompt"][-1]["content"]) % 2 == 0 for row in dataset]
    assert 0 < sum(teach_nothing) < len(dataset)
    trainer = RolloutGRPOTrainer(
        model=model,
        reward_funcs=[half_the_prompts_teach_nothing],
        args=args,
        processing_class=tokenizer,
        train_dataset=dataset,
    )
    trainer.dynamic_sampling = cfg.grpo.dynamic_sampling
    batches = []
    generate = trainer._generate_and_score_completions

    def recording(inputs):
        batches.append(generate(inputs))
        return batches[-1]

    trainer._generate_and_score_completions = recording
    trainer.train()
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 2 and len(batches) == 2
    for entry, batch in zip(logged, batches):
        assert len(batch["advantages"]) == 16 and batch["num_items_in_batch"] == batch["completion_mask"].sum()
        signal = group_signal(batch["advantages"], 4).float().mean().item()
        assert entry["dynamic_sampling/signal_share"] == pytest.approx(signal)
        assert entry["dynamic_sampling/signal_share"] >= entry["dynamic_sampling/kept_share"]
        if entry["dynamic_sampling/kept_share"] < 1:
            assert entry["dynamic_sampling/rounds"] > 1
    # even-length prompts make up about half the data: some first round had groups to replace, and refills did
    assert min(e["dynamic_sampling/kept_share"] for e in logged) < 1
    assert max(e["dynamic_sampling/signal_share"] - e["dynamic_sampling/kept_share"] for e in logged) > 0
