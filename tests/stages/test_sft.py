"""The SFT stage's choice of loss mask for multi-turn demonstrations (TRL's assistant-only loss where the chat
template marks, or TRL can mark, the assistant's turns, else one row per turn), and its micro-batches: each step's
conversations split by length (``sft.train_sampling_strategy=batch_rebalance``)."""

import pytest

from rlreason.errors import UserError
from rlreason.models.tokenizer import train_tokenizer
from rlreason.stages import sft
from rlreason.stages.config import SFTStageConfig
from rlreason.stages.sft import micro_batch_size, trains_assistant_turns

# SmolLM2-Instruct's template: plain ChatML, no {% generation %} markers, not one TRL knows how to patch.
PLAIN_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SMALL = [
    "logger=none",
    "model.tiny_moe.tokenizer_corpus_size=200",
    "sft.max_steps=3",
    "sft.batch_size=16",
    "data.reasoning.sft_size=64",
    "data.tool_calling.sft_size=32",
    "data.safety.sft_size=16",
]


def test_the_assistant_only_loss_is_used_only_where_the_template_marks_the_assistant_turns():
    tokenizer = train_tokenizer(["<|im_start|>user\nhi<|im_end|>"] * 10, vocab_size=300)
    assert trains_assistant_turns(tokenizer)  # the tiny MoE's template has {% generation %}
    tokenizer.chat_template = PLAIN_CHATML
    assert not trains_assistant_turns(tokenizer)


def test_a_batch_that_does_not_split_into_the_micro_batches_is_refused():
    assert micro_batch_size(SFTStageConfig(batch_size=32, gradient_accumulation_steps=4)) == 8
    with pytest.raises(UserError, match="sft.gradient_accumulation_steps=3"):
        micro_batch_size(SFTStageConfig(batch_size=32, gradient_accumulation_steps=3))


def micro_batches(monkeypatch, initialized_run, run_dir, overrides):
    """Run the SFT stage: (each micro-batch it trained on, as its conversations' token counts; its sampler)."""
    seen, samplers = [], []
    training_step, train_sampler = sft.SFTStageTrainer.training_step, sft.SFTStageTrainer._get_train_sampler

    def recording_step(self, model, inputs, *args, **kwargs):
        seen.append(inputs["attention_mask"].sum(dim=1).tolist())
        return training_step(self, model, inputs, *args, **kwargs)

    def recording_sampler(self, *args, **kwargs):
        samplers.append(train_sampler(self, *args, **kwargs))
        return samplers[-1]

    monkeypatch.setattr(sft.SFTStageTrainer, "training_step", recording_step)
    monkeypatch.setattr(sft.SFTStageTrainer, "_get_train_sampler", recording_sampler)
    cfg, run = initialized_run(run_dir, [*SMALL, *overrides])
    sft.run(cfg, run)
    monkeypatch.undo()  # the next call wraps the trainer's own methods, not these
    return seen, samplers[0]


def test_batch_rebalance_splits_each_step_by_length_into_micro_batches(tmp_path, monkeypatch, initialized_run):
    rebalanced = ["sft.gradient_accumulation_steps=2", "sft.train_sampling_strategy=batch_rebalance"]
    seen, _ = micro_batches(monkeypatch, initialized_run, tmp_path / "a", rebalanced)
    steps = [seen[i : i + 2] for i in range(0, len(seen), 2)]
    assert len(steps) == 3 and all(len(a) + len(b) == 16 for a, b in steps)  # every step still holds 16
    for a, b in steps:
        longer, shorter = (a, b) if max(a) >= max(b) else (b, a)
        assert max(shorter) <= min(longer)  # split by length: no conversation padded to a longer one's length
        padded = len(longer) * max(longer) + len(shorter) * max(shorter)
        assert padded < 16 * max(longer)  # fewer padded tokens than the same step in one batch
    again, _ = micro_batches(monkeypatch, initialized_run, tmp_path / "b", [*rebalanced, "seed=0"])
    assert again == seen  # reproducible
    _, sampler = micro_batches(monkeypatch, initialized_run, tmp_path / "c", [*rebalanced, "seed=1"])
    assert sampler.seed == 1  # the run's seed orders the data (transformers' own is 42 whatever the run's)
