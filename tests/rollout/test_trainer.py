"""RolloutGRPOTrainer: the train-inference mismatch is measured with TRL's importance-sampling correction on
or off (off skips a policy forward per step), it and the correction react to an engine left stale, and a
drifting sampler is warned about."""

import logging
from types import SimpleNamespace

import pytest
import torch
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


def test_the_correction_defaults_to_trls_on_gpu_only_and_each_mode_reaches_trl(tmp_path):
    cfg = compose([f"run_dir={tmp_path}"])
    assert grpo.importance_sampling_mode(cfg, "cpu") is None
    assert grpo.importance_sampling_mode(cfg, "cuda") == "sequence_mask"
    for mode in ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask"):
        chosen = compose([f"run_dir={tmp_path}", f"grpo.importance_sampling.mode={mode}"])
        args = grpo.correction_args(chosen, "cpu")
        assert args["vllm_importance_sampling_correction"] and args["vllm_importance_sampling_mode"] == mode
    off = grpo.correction_args(compose([f"run_dir={tmp_path}", "grpo.importance_sampling.mode=off"]), "cuda")
    assert off["vllm_importance_sampling_correction"] is False


def _trainer(cfg, run, reward, trainer_class=RolloutGRPOTrainer):
    source = run.latest_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    args = grpo.grpo_config(cfg, str(run.dir / "grpo"), [1.0], "cpu", model.config)
    trainer = trainer_class(
        model=model,
        reward_funcs=[reward],
        args=args,
        processing_class=tokenizer,
        train_dataset=grpo_dataset(cfg.data, cfg.seed, tokenizer),
        cpu_engine=grpo.cpu_engine_args(cfg, args, model, "cpu"),
    )
    return trainer


@pytest.mark.parametrize("mode, forwards_per_step", [("token_truncate", 2), ("off", 1)])
def test_mismatch_is_logged_every_step_with_or_without_the_correction(
    tmp_path, initialized_run, varying_reward, mode, forwards_per_step
):
    pytest.importorskip("vllm")
    cfg, run = initialized_run(tmp_path, [*TINY, f"grpo.importance_sampling.mode={mode}"])
    CountingTrainer.forwards = 0
    trainer = _trainer(cfg, run, varying_reward, CountingTrainer)
    assert trainer.vllm_importance_sampling_correction is (mode != "off")
    trainer.train()
    assert CountingTrainer.forwards == forwards_per_step * 2
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 2
    for entry in logged:
        assert set(RolloutGRPOTrainer.SAMPLING_KEYS) <= set(entry)
        assert set(RolloutGRPOTrainer.MISMATCH_KEYS) <= set(entry)
        # vLLM samples from the policy being trained: fp32, exact weight sync.
        assert entry["sampling/sampling_logp_difference/max"] < 1e-3
        assert entry["sampling/importance_sampling_ratio/min"] == pytest.approx(1.0, abs=1e-3)
        assert entry["sampling/importance_sampling_ratio/max"] == pytest.approx(1.0, abs=1e-3)
        assert 0 <= entry["rollout/mismatch_kl"] < 1e-6 and entry["rollout/is_clipped_share"] == 0


def test_a_stale_engine_shows_in_the_mismatch_and_the_correction_masks_it(tmp_path, initialized_run, varying_reward):
    """The engine keeps the first step's weights while the policy trains on at a high learning rate: the mismatch
    KL and the ratios grow, and token_mask with a tight cap zeroes the ratios of the tokens out of range."""
    pytest.importorskip("vllm")
    overrides = ["grpo.max_steps=4", "grpo.learning_rate=0.05", "grpo.warmup_steps=0"]
    masked = ["grpo.importance_sampling.mode=token_mask", "grpo.importance_sampling.clip_max=1.05"]
    cfg, run = initialized_run(tmp_path, [*TINY, *overrides, *masked])
    trainer = _trainer(cfg, run, varying_reward)
    engine, synced = trainer.vllm_generation, []
    original = engine.sync_weights

    def first_sync_only():
        if not synced:
            original()
        synced.append(True)

    engine.sync_weights = first_sync_only
    ratios = []
    compute_loss = trainer._compute_loss

    def recording(model, inputs):
        ratios.append(inputs["importance_sampling_ratio"].detach())
        return compute_loss(model, inputs)

    trainer._compute_loss = recording
    trainer.train()
    assert len(synced) >= 3  # TRL asked for a sync before each later step; the engine ignored it
    logged = [h for h in trainer.state.log_history if "loss" in h]
    first, last = logged[0], logged[-1]
    assert first["rollout/mismatch_kl"] < 1e-6 and first["rollout/is_clipped_share"] == 0
    assert last["rollout/mismatch_kl"] > 1e-3 and last["rollout/is_ratio_max"] > 1.05
    assert last["rollout/is_clipped_share"] > 0
    assert ratios[0].allclose(torch.ones_like(ratios[0]), atol=1e-3)
    assert (ratios[-1] == 0).any()  # token_mask: the correction dropped the tokens out of range
    assert grpo.importance_sampling_mode(cfg, "cpu") == "token_mask"


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
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rlreason.rollout.trainer"):
        MismatchWarning(0.5, max_mismatch_kl=0.01).on_log(None, state, None, logs={"rollout/mismatch_kl": 0.2})
    assert "grpo.importance_sampling.max_mismatch_kl=0.01" in caplog.text
