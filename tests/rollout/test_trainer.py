"""RolloutGRPOTrainer: the train-inference mismatch is measured with TRL's importance-sampling correction on
or off (off skips a policy forward per step), and a drifting sampler is warned about."""

import logging
from types import SimpleNamespace

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlreason.config import compose
from rlreason.data.mixer import grpo_dataset
from rlreason.rollout.trainer import MismatchWarning, RolloutGRPOTrainer
from rlreason.stages import grpo

TINY = [
    "logger=none",
    "rollout=vllm_colocate",
    "grpo.max_steps=2",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=12",
    "grpo.save_steps=100",
    "grpo.logging_steps=1",
    "data.reasoning.grpo_size=8",
    "model.tiny_moe.tokenizer_corpus_size=200",
]


class CountingTrainer(RolloutGRPOTrainer):
    """Counts policy forwards (TRL's extra no-grad one for the correction, and the loss forward)."""

    forwards = 0

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        CountingTrainer.forwards += 1
        return super()._get_per_token_logps_and_entropies(*args, **kwargs)


def test_importance_sampling_correction_defaults_to_gpu_only(tmp_path):
    cfg = compose([f"run_dir={tmp_path}"])
    assert grpo.importance_sampling_correction(cfg, "cpu") is False
    assert grpo.importance_sampling_correction(cfg, "cuda") is True
    forced = compose([f"run_dir={tmp_path}", "rollout.importance_sampling_correction=true"])
    assert grpo.importance_sampling_correction(forced, "cpu") is True


@pytest.mark.parametrize("correction, forwards_per_step", [(True, 2), (False, 1)])
def test_mismatch_is_logged_every_step_with_or_without_the_correction(
    tmp_path, initialized_run, varying_reward, correction, forwards_per_step
):
    pytest.importorskip("vllm")
    cfg, run = initialized_run(tmp_path, [*TINY, f"rollout.importance_sampling_correction={correction}"])
    source = run.latest_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    args = grpo.grpo_config(cfg, str(tmp_path / "grpo"), [1.0], "cpu", model.config)
    assert args.vllm_importance_sampling_correction is correction
    CountingTrainer.forwards = 0
    trainer = CountingTrainer(
        model=model,
        reward_funcs=[varying_reward],
        args=args,
        processing_class=tokenizer,
        train_dataset=grpo_dataset(cfg.data, cfg.seed, tokenizer),
        cpu_engine=grpo.cpu_engine_args(cfg, args, model, "cpu"),
    )
    trainer.train()
    assert CountingTrainer.forwards == forwards_per_step * 2
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 2
    for entry in logged:
        assert set(RolloutGRPOTrainer.SAMPLING_KEYS) <= set(entry)
        # vLLM samples from the policy being trained: fp32, exact weight sync.
        assert entry["sampling/sampling_logp_difference/max"] < 1e-3
        assert entry["sampling/importance_sampling_ratio/min"] == pytest.approx(1.0, abs=1e-3)
        assert entry["sampling/importance_sampling_ratio/max"] == pytest.approx(1.0, abs=1e-3)


def test_a_sampler_drifting_from_the_policy_is_warned_about(caplog):
    callback = MismatchWarning(max_logp_difference=0.5)
    state = SimpleNamespace(global_step=7)
    with caplog.at_level(logging.WARNING, logger="rlreason.rollout.trainer"):
        callback.on_log(None, state, None, logs={"sampling/sampling_logp_difference/max": 1e-5, "loss": 0.1})
        callback.on_log(None, state, None, logs={"loss": 0.1})
        assert not caplog.records
        callback.on_log(None, state, None, logs={"sampling/sampling_logp_difference/max": 2.3})
    assert callback.warned == 1
    assert "step 7" in caplog.text and "rollout.max_logp_difference=0.5" in caplog.text
