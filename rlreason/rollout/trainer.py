"""TRL's ``GRPOTrainer`` with rlreason's rollout engine plugged in."""

from __future__ import annotations

import logging

from transformers import TrainerCallback
from trl import GRPOTrainer

logger = logging.getLogger(__name__)


class RolloutGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose vLLM generation on CPU is rlreason's (``cpu_engine``: a ``VLLMGeneration``
    subclass from :mod:`rlreason.rollout.colocate` or :mod:`rlreason.rollout.server`, and its extra arguments).

    TRL builds its engine inside ``__init__`` with no hook to choose another, so on CPU the trainer is built
    with vLLM off (TRL then starts no engine) and the CPU engine is attached afterwards with the arguments
    TRL would have used. On GPU (``cpu_engine=None``) nothing changes: TRL's own vLLM modes run.
    """

    def __init__(self, *args, cpu_engine: tuple[type, dict] | None = None, **kwargs):
        config = kwargs["args"]
        attach = cpu_engine is not None and config.use_vllm
        if attach:
            config.use_vllm = False
        try:
            super().__init__(*args, **kwargs)
        finally:
            if attach:
                config.use_vllm = True
        if attach:
            self.use_vllm = True
            self._last_loaded_step = -1  # TRL's marker: sync weights before the first generation
            generation_cls, extra = cpu_engine
            self.vllm_generation = generation_cls(
                model=self.model,
                accelerator=self.accelerator,
                processing_class=self.processing_class,
                max_model_length=config.vllm_max_model_length,
                max_num_seqs=config.per_device_train_batch_size * config.steps_per_generation,
                trust_remote_code=config.trust_remote_code,
                repetition_penalty=self.repetition_penalty,
                temperature=self.temperature,
                top_p=self.top_p,
                top_k=self.top_k,
                min_p=self.min_p,
                max_completion_length=self.max_completion_length,
                logprobs=0,
                generation_kwargs=config.generation_kwargs,
                server_timeout=config.vllm_server_timeout,
                **extra,
            )


class MismatchWarning(TrainerCallback):
    """Warn when the sampler and the trained policy disagree more than ``max_logp_difference``.

    TRL logs ``sampling/sampling_logp_difference/max`` (|log p_vLLM - log p_policy| per token) and the
    importance-sampling ratios; a large difference means rollouts are off-policy (a broken weight sync, a
    dtype mismatch) and TRL's correction is papering over it.
    """

    KEY = "sampling/sampling_logp_difference/max"

    def __init__(self, max_logp_difference: float):
        self.max_logp_difference = max_logp_difference
        self.warned = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        value = (logs or {}).get(self.KEY)
        if value is not None and value > self.max_logp_difference:
            self.warned += 1
            logger.warning(
                "step %d: %s = %.3g exceeds rollout.max_logp_difference=%.3g; vLLM is sampling from a policy "
                "that differs from the one being trained (check the weight sync and dtypes)",
                state.global_step, self.KEY, value, self.max_logp_difference,
            )
