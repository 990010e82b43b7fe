"""TRL's ``GRPOTrainer`` with rlreason's rollout engine plugged in."""

from __future__ import annotations

import logging

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer

from rlreason.models.loading import ResumeConvertedWeights
from rlreason.models.routing import LogsExpertLoad

logger = logging.getLogger(__name__)


class RolloutGRPOTrainer(LogsExpertLoad, ResumeConvertedWeights, GRPOTrainer):
    """``GRPOTrainer`` whose vLLM generation on CPU is rlreason's (``cpu_engine``: a ``VLLMGeneration``
    subclass from :mod:`rlreason.rollout.colocate` or :mod:`rlreason.rollout.server`, and its extra arguments),
    whose resume restores an MoE's experts (:class:`~rlreason.models.loading.ResumeConvertedWeights`), and whose
    log lines carry an MoE's expert load (:class:`~rlreason.models.routing.LogsExpertLoad`) and, where it is
    measured (set ``trainer.routing_agreement``), how often vLLM and the trainer route a sampled token to the same
    experts (:mod:`rlreason.rollout.routing_agreement`).

    TRL builds its engine inside ``__init__`` with no hook to choose another, so on CPU the trainer is built
    with vLLM off (TRL then starts no engine) and the CPU engine is attached afterwards with the arguments
    TRL would have used. On GPU (``cpu_engine=None``) nothing changes: TRL's own vLLM modes run.

    With TRL's importance-sampling correction off (``rollout.importance_sampling_correction``), TRL skips the
    no-grad policy forward the correction needs, and with it the ``sampling/*`` metrics. This trainer logs
    them anyway, under TRL's names, from the policy logprobs the loss forward computes: with one generation
    per optimizer step (``num_iterations=1``) they are the logprobs TRL's extra forward would give.
    """

    SAMPLING_KEYS = (
        "sampling/sampling_logp_difference/mean",
        "sampling/sampling_logp_difference/max",
        "sampling/importance_sampling_ratio/min",
        "sampling/importance_sampling_ratio/mean",
        "sampling/importance_sampling_ratio/max",
    )

    routing_agreement = None  # a RoutingAgreement, measured after every training generation

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
        self._loss_inputs = None

    def _generate(self, prompts: list):
        seed_requests = getattr(
            getattr(self, "vllm_generation", None), "seed_requests", None
        )  # the CPU colocated engine
        if self.use_vllm and seed_requests is not None:
            seed_requests(self.state.global_step, len(prompts))
        outputs = super()._generate(prompts)
        if self.routing_agreement is not None and self.model.training:
            prompt_ids, completion_ids = outputs[0], outputs[1]
            self.routing_agreement.measure(prompt_ids, completion_ids)
        return outputs

    def log(self, logs: dict, *args, **kwargs) -> None:
        if self.routing_agreement is not None and "loss" in logs:
            logs = {**logs, **self.routing_agreement.flush()}
        super().log(logs, *args, **kwargs)

    @property
    def measures_mismatch_in_loss(self) -> bool:
        return self.use_vllm and not self.vllm_importance_sampling_correction

    def _compute_loss(self, model, inputs):
        self._loss_inputs = inputs if self.measures_mismatch_in_loss else None
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._loss_inputs = None

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        outputs = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        inputs, self._loss_inputs = self._loss_inputs, None  # only the loss forward's first call measures
        if inputs is not None and "sampling_per_token_logps" in inputs:
            self._log_sampling_mismatch(outputs[0].detach(), inputs)
        return outputs

    def _log_sampling_mismatch(self, policy_logps: torch.Tensor, inputs: dict) -> None:
        """TRL's ``sampling/*`` figures: |log p_policy - log p_vLLM| per completion token, and the token-level
        ratio p_policy / p_vLLM that the correction would apply (unclipped)."""
        mask = inputs["completion_mask"].bool()
        if "tool_mask" in inputs:
            mask &= inputs["tool_mask"].bool()
        log_ratio = policy_logps - inputs["sampling_per_token_logps"]
        log_ratio = log_ratio[mask & ~torch.isnan(log_ratio)]  # tokens vLLM could not score carry NaN
        if log_ratio.numel() == 0:
            return
        difference, ratio = log_ratio.abs(), log_ratio.exp()
        figures = (difference.mean(), difference.max(), ratio.min(), ratio.mean(), ratio.max())
        gathered = self.accelerator.gather(torch.stack(figures).unsqueeze(0))  # (processes, 5)
        reduced = (
            gathered[:, 0].mean(),
            gathered[:, 1].max(),
            gathered[:, 2].min(),
            gathered[:, 3].mean(),
            gathered[:, 4].max(),
        )
        mode = "train" if self.model.training else "eval"
        for key, value in zip(self.SAMPLING_KEYS, reduced):
            self._metrics[mode][key].append(value.item())


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
                state.global_step,
                self.KEY,
                value,
                self.max_logp_difference,
            )
