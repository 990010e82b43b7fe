"""TRL's ``GRPOTrainer`` with rlreason's rollout engine plugged in."""

from __future__ import annotations

import logging
import math

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer

from rlreason.models.loading import ResumeConvertedWeights
from rlreason.models.routing import LogsExpertLoad
from rlreason.rollout.dynamic_sampling import DynamicSampling

logger = logging.getLogger(__name__)


class RolloutGRPOTrainer(LogsExpertLoad, ResumeConvertedWeights, DynamicSampling, GRPOTrainer):
    """``GRPOTrainer`` whose vLLM generation on CPU is rlreason's (``cpu_engine``: a ``VLLMGeneration``
    subclass from :mod:`rlreason.rollout.colocate` or :mod:`rlreason.rollout.server`, and its extra arguments),
    whose resume restores an MoE's experts (:class:`~rlreason.models.loading.ResumeConvertedWeights`), and whose
    log lines carry an MoE's expert load (:class:`~rlreason.models.routing.LogsExpertLoad`) and, where it is
    measured (set ``trainer.routing_agreement``), how often vLLM and the trainer route a sampled token to the same
    experts (:mod:`rlreason.rollout.routing_agreement`), and which drops zero-signal groups and refills the batch
    when ``dynamic_sampling`` is set (:mod:`rlreason.rollout.dynamic_sampling`).

    TRL builds its engine inside ``__init__`` with no hook to choose another, so on CPU the trainer is built
    with vLLM off (TRL then starts no engine) and the CPU engine is attached afterwards with the arguments
    TRL would have used. On GPU (``cpu_engine=None``) nothing changes: TRL's own vLLM modes run.

    Every step it logs the train-inference mismatch on the sampled tokens, whatever the correction
    (:meth:`_log_mismatch`): ``rollout/mismatch_kl`` (KL(engine || policy), the k3 estimate), ``rollout/is_ratio_max``
    (the largest p_policy / p_engine, per token or per sequence as the correction mode reads it) and
    ``rollout/is_clipped_share`` (the share of those ratios outside [clip_min, clip_max]: what the correction
    truncates or masks, or would). With the correction on, the policy's logprobs are the ones TRL's extra
    forward computed; with it off, TRL skips that forward and with it its ``sampling/*`` metrics, so they come
    from the loss forward and the ``sampling/*`` figures are logged under TRL's names too: with one generation
    per optimizer step (``num_iterations=1``) they are the logprobs TRL's extra forward would give.
    """

    SAMPLING_KEYS = (
        "sampling/sampling_logp_difference/mean",
        "sampling/sampling_logp_difference/max",
        "sampling/importance_sampling_ratio/min",
        "sampling/importance_sampling_ratio/mean",
        "sampling/importance_sampling_ratio/max",
    )
    MISMATCH_KEYS = ("rollout/mismatch_kl", "rollout/is_ratio_max", "rollout/is_clipped_share")

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
        engine = getattr(self, "vllm_generation", None)
        seed_requests = getattr(engine, "seed_requests", None)  # the CPU colocated engine has it
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

    def _compute_loss(self, model, inputs):
        self._loss_inputs = None
        if self.use_vllm and "sampling_per_token_logps" in inputs:
            if "old_per_token_logps" in inputs:  # the policy at sampling time, already computed
                self._log_mismatch(inputs["old_per_token_logps"], inputs)
            else:  # measured from the loss forward (_get_per_token_logps_and_entropies)
                self._loss_inputs = inputs
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._loss_inputs = None

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        outputs = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        inputs, self._loss_inputs = self._loss_inputs, None  # only the loss forward's first call measures
        if inputs is not None:
            self._log_mismatch(outputs[0].detach(), inputs)
        return outputs

    def _log_mismatch(self, policy_logps: torch.Tensor, inputs: dict) -> None:
        """The mismatch figures of one micro-batch between the policy's logprobs and the engine's
        (``inputs["sampling_per_token_logps"]``), reduced over the processes into ``self._metrics``."""
        mask = inputs["completion_mask"].bool()
        if "tool_mask" in inputs:
            mask &= inputs["tool_mask"].bool()
        log_ratio = policy_logps - inputs["sampling_per_token_logps"]
        mask &= ~torch.isnan(log_ratio)  # tokens vLLM could not score carry NaN
        if not mask.any():
            return
        log_ratio = log_ratio.masked_fill(~mask, 0.0)
        tokens = log_ratio[mask]
        # k3 (non-negative, unbiased under the engine's samples): E[ratio - 1 - log ratio] = KL(engine || policy)
        mismatch_kl = (tokens.exp() - 1 - tokens).mean()
        if self.vllm_importance_sampling_mode.startswith("sequence"):
            ratios = log_ratio.sum(dim=-1)[mask.any(dim=-1)].exp()
        else:
            ratios = tokens.exp()
        low, high = self.vllm_importance_sampling_clip_min, self.vllm_importance_sampling_clip_max
        low, high = 0.0 if low is None else low, math.inf if high is None else high
        clipped = ((ratios < low) | (ratios > high)).float().mean()
        # (key, this process's value, how the processes' values combine)
        figures = list(
            zip(self.MISMATCH_KEYS, (mismatch_kl, ratios.max(), clipped), (torch.mean, torch.max, torch.mean))
        )
        if not self.vllm_importance_sampling_correction:  # with it on, TRL logs its own sampling/* figures
            difference, token_ratio = tokens.abs(), tokens.exp()
            values = (difference.mean(), difference.max(), token_ratio.min(), token_ratio.mean(), token_ratio.max())
            reductions = (torch.mean, torch.max, torch.min, torch.mean, torch.max)
            figures += list(zip(self.SAMPLING_KEYS, values, reductions))
        gathered = self.accelerator.gather(torch.stack([value for _, value, _ in figures]).unsqueeze(0))
        mode = "train" if self.model.training else "eval"
        for column, (key, _, reduce) in enumerate(figures):  # gathered: (processes, figures)
            self._metrics[mode][key].append(reduce(gathered[:, column]).item())


class MismatchWarning(TrainerCallback):
    """Warn when the sampler and the trained policy disagree: ``sampling/sampling_logp_difference/max``
    (|log p_vLLM - log p_policy| of a token) above ``rollout.max_logp_difference``, or ``rollout/mismatch_kl``
    above ``grpo.importance_sampling.max_mismatch_kl``. Either means rollouts are off-policy (a broken weight
    sync, a dtype mismatch) and an importance-sampling correction would be papering over it.
    """

    KEY = "sampling/sampling_logp_difference/max"
    KL_KEY = "rollout/mismatch_kl"

    def __init__(self, max_logp_difference: float, max_mismatch_kl: float = math.inf):
        self.limits = {
            self.KEY: (max_logp_difference, "rollout.max_logp_difference"),
            self.KL_KEY: (max_mismatch_kl, "grpo.importance_sampling.max_mismatch_kl"),
        }
        self.warned = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key, (limit, setting) in self.limits.items():
            value = (logs or {}).get(key)
            if value is not None and value > limit:
                self.warned += 1
                logger.warning(
                    "step %d: %s = %.3g exceeds %s=%.3g; vLLM is sampling from a policy that differs from the one "
                    "being trained (check the weight sync and dtypes)",
                    state.global_step,
                    key,
                    value,
                    setting,
                    limit,
                )
