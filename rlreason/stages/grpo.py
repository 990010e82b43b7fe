"""Stage **grpo**: GRPO-family reinforcement learning with TRL's ``GRPOTrainer``.

Features:
- DAPO's dynamic sampling (``grpo.dynamic_sampling``): groups whose rewards all agree are dropped and the batch
  refilled from further prompts (``rlreason/rollout/dynamic_sampling.py``); ``algo=dapo`` turns it on.
- Every loss TRL implements (``grpo.loss_type``: grpo, dr_grpo, dapo, bnpo, cispo, sapo, luspo, vespo) and
  GSPO through ``grpo.importance_sampling_level=sequence``; clipping ``epsilon``/``epsilon_high``; KL ``beta``.
- Rewards from the registry (``reward.functions``: rules, a reward model ``rm:PATH``, a remote server
  ``remote:URL``, an LLM judge), weighted and guarded (``rlreason/rewards/``); TRL logs each one's mean and std,
  the guard its failure share (``rewards/<name>/failed``), and ``summary.json`` its call and failure counts.
- The MoE router load-balancing loss, weighted by ``grpo.router_aux_loss_coef`` (0 disables it), or frozen
  routers (``grpo.freeze_router``); expert load,
  load imbalance and router entropy in every log line and in ``summary.json`` (``rlreason/models/routing.py``);
  with vLLM colocated on CPU, the share of sampled tokens that vLLM and the trainer route to the same experts
  (``moe/routing_agreement``, ``rlreason/rollout/routing_agreement.py``).
- Checkpoints every ``grpo.save_steps``; Ctrl-C, SIGTERM or SIGUSR1 saves one before stopping; a re-run resumes
  from the last.
- Rollouts from vLLM colocated with the trainer (``rollout=vllm_colocate``, the default where vLLM is
  installed), from a vLLM server the stage starts and stops (``rollout=vllm_server``), or from Hugging Face
  ``generate`` (``rollout=hf``). On CPU the engines are :mod:`rlreason.rollout.colocate` and
  :mod:`rlreason.rollout.server`; on GPU, TRL's own. TRL's importance-sampling correction
  (``grpo.importance_sampling.mode``: truncated or masked, per token or per sequence) is on for GPU engines by
  default; the mismatch (``rollout/mismatch_kl``, ``rollout/is_ratio_max``, ``rollout/is_clipped_share`` and
  TRL's ``sampling/*``) is logged every step either way, and a warning fires when it shows the sampler drifting
  from the policy.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from transformers import AutoConfig
from trl import GRPOConfig

from rlreason.data.mixer import grpo_dataset, without_long_prompts
from rlreason.distributed import cluster
from rlreason.distributed.comm import is_main_process, per_process
from rlreason.distributed.zero import prepare_model
from rlreason.models.loading import is_moe, load_policy, load_tokenizer
from rlreason.models.lora import peft_config
from rlreason.models.routing import ExpertLoad, freeze_routers, has_trl_load_balancing
from rlreason.rewards import build_rewards
from rlreason.rollout.colocate import CPUColocateGeneration
from rlreason.rollout.engine import context_limit, uses_vllm
from rlreason.rollout.multi_turn import TOOL_METRICS, tool_rollout
from rlreason.rollout.routing_agreement import EngineRoutes, PolicyRoutes, RoutingAgreement
from rlreason.rollout.server import CPUServerGeneration, managed_server
from rlreason.rollout.trainer import MismatchWarning, RolloutGRPOTrainer
from rlreason.stages.contract import StageResult
from rlreason.stages.training import TrainingStage, trainer_arguments

logger = logging.getLogger(__name__)

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = ("seed", "data", "model.lora", "grpo", "reward", "rollout")


def importance_sampling_mode(cfg, device: str) -> str | None:
    """The correction TRL applies (a ``vllm_importance_sampling_mode``), or None: ``grpo.importance_sampling.mode``,
    whose ``auto`` is TRL's default on GPU and none on CPU.

    The correction reweights each token by p_policy / p_vLLM, which costs a no-grad policy forward per step. On
    GPU, vLLM's kernels (and often its dtype) differ from training's, so the ratio is worth having. On CPU the
    engine runs the policy's fp32 weights, synced exactly (|log p difference| ~1e-5, ratio 1), so the forward
    buys nothing; the mismatch is still measured, from the loss forward (``RolloutGRPOTrainer``).
    """
    mode = cfg.grpo.importance_sampling.mode.value
    if mode == "auto":
        return None if device == "cpu" else "sequence_mask"
    return None if mode == "off" else mode


def router_aux_loss_coef(cfg, config) -> float:
    """``grpo.router_aux_loss_coef`` for an MoE policy; 0 for a dense one, which has no router to balance, and
    for a family whose config does not name ``num_experts``, which TRL's loss reads (DeepSeek-V3 calls them
    ``n_routed_experts`` and balances them with a routing bias, not an auxiliary loss)."""
    coef = cfg.grpo.router_aux_loss_coef
    if not is_moe(config):
        if coef:
            logger.info(
                "%s has no experts: grpo.router_aux_loss_coef (MoE load balancing) does not apply",
                type(config).__name__,
            )
        return 0.0
    if coef and not has_trl_load_balancing(config):
        logger.info(
            "%s has no config.num_experts for TRL's load-balancing loss (its experts are balanced by a "
            "routing bias): grpo.router_aux_loss_coef does not apply",
            type(config).__name__,
        )
        return 0.0
    return coef


def correction_args(cfg, device: str) -> dict:
    """TRL's importance-sampling settings for ``grpo.importance_sampling``."""
    mode, settings = importance_sampling_mode(cfg, device), cfg.grpo.importance_sampling
    return {
        "vllm_importance_sampling_correction": mode is not None,
        **({"vllm_importance_sampling_mode": mode} if mode else {}),
        "vllm_importance_sampling_clip_max": settings.clip_max,
        "vllm_importance_sampling_clip_min": settings.clip_min,
    }


def grpo_config(cfg, out: Path, reward_weights: list[float], device: str, config) -> GRPOConfig:
    """TRL's config for the policy of ``config`` (its transformers config), for the stage folder ``out``. Built
    before the policy is loaded: under ZeRO-3 it makes ``from_pretrained`` create every parameter already
    sharded."""
    g = cfg.grpo
    return GRPOConfig(
        **trainer_arguments(cfg, g, out, device),
        use_vllm=uses_vllm(cfg.rollout.engine, "rollout.engine", device=device, config=config),
        vllm_mode=cfg.rollout.mode.value,
        vllm_server_timeout=cfg.rollout.server.timeout,
        vllm_max_model_length=cfg.rollout.max_model_length,
        vllm_gpu_memory_utilization=cfg.rollout.gpu_memory_utilization,
        **correction_args(cfg, device),
        max_steps=g.max_steps,
        per_device_train_batch_size=per_process(
            g.prompts_per_step * g.num_generations, "grpo.prompts_per_step * grpo.num_generations"
        ),
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        epsilon=g.epsilon,
        epsilon_high=g.epsilon_high,
        loss_type=g.loss_type.value,
        importance_sampling_level=g.importance_sampling_level.value,
        scale_rewards=g.scale_rewards,
        num_iterations=g.num_iterations,
        mask_truncated_completions=g.mask_truncated_completions,
        router_aux_loss_coef=router_aux_loss_coef(cfg, config),
        reward_weights=reward_weights,
    )


def cpu_engine_args(cfg, args: GRPOConfig, model, device: str, server_url: str | None = None, sync_dir=None):
    """The CPU generation class and its arguments for ``RolloutGRPOTrainer``; None off CPU or without vLLM."""
    if not args.use_vllm or device != "cpu":
        return None
    if args.vllm_mode == "server":
        return CPUServerGeneration, {"server_url": server_url, "sync_dir": sync_dir}
    return CPUColocateGeneration, {
        "dtype": str(model.dtype).removeprefix("torch."),
        "seed": cfg.seed,
        "rollout": cfg.rollout,
    }


def colocated_cpu_engine(trainer) -> CPUColocateGeneration | None:
    """The trainer's vLLM engine when it is rlreason's in-process CPU one (the engine that routing agreement and
    ``rollout.seed_per_request`` need); None for HF generate, a server or TRL's GPU engine."""
    generation = trainer.vllm_generation if trainer.use_vllm else None
    return generation if isinstance(generation, CPUColocateGeneration) else None


def routing_agreement(cfg, trainer, model) -> RoutingAgreement | None:
    """The routing-agreement measurement of ``rollout.routing_agreement_samples`` for an MoE policy, where the
    engine allows it (vLLM in this process, eager: colocated on CPU); None, saying why, where it does not."""
    samples = cfg.rollout.routing_agreement_samples
    if not samples or not is_moe(model):
        return None
    if trainer.rollout_func is not None:
        logger.info(
            "moe/routing_agreement: not measured with multi-turn rollouts (rollout.max_turns > 1): a completion's "
            "replies are sampled by several engine calls"
        )
        return None
    generation = colocated_cpu_engine(trainer)
    if generation is None:
        if not trainer.use_vllm:
            engine = "Hugging Face generate (the trainer's own forward samples)"
        elif cfg.rollout.mode.value == "server":
            engine = "a vLLM server (its routers run in another process)"
        else:
            engine = "TRL's GPU engine (not wired: its CUDA-graph forwards would skip vLLM's capture callback)"
        logger.info(
            "moe/routing_agreement: not measured with %s; it compares the routing of vLLM colocated on CPU with "
            "the trainer's",
            engine,
        )
        return None
    try:
        engine_routes = EngineRoutes(generation.llm, generation.model_runner.model)
    except ValueError as error:
        logger.info(
            "moe/routing_agreement: not measured: vLLM cannot report %s's routing (%s)", type(model).__name__, error
        )
        return None
    return RoutingAgreement(engine_routes, PolicyRoutes(model), samples)


def run(cfg, run) -> StageResult:
    stage = TrainingStage(cfg, run, "grpo")
    device = stage.device
    source = run.latest_checkpoint()
    tokenizer = load_tokenizer(source)
    rewards = build_rewards(cfg.reward)
    args = grpo_config(cfg, stage.out, [r.weight for r in rewards], device, AutoConfig.from_pretrained(source))
    model = load_policy(source)  # after the config: under ZeRO-3 each process loads its shards only
    if cfg.grpo.freeze_router:
        frozen = freeze_routers(model) if is_moe(model) else 0
        logger.info(
            "grpo.freeze_router: %d routers frozen%s", frozen, "" if frozen else f" ({type(model).__name__} has none)"
        )
    prepare_model(model, cfg.distributed.strategy)
    train_dataset = grpo_dataset(cfg.data, cfg.seed, tokenizer)
    if cfg.data.drop_long_prompts:
        train_dataset = without_long_prompts(
            train_dataset, tokenizer, context_limit(cfg, source) - cfg.grpo.max_completion_length
        )
    server = contextlib.nullcontext()
    if args.use_vllm and args.vllm_mode == "server" and is_main_process():  # the one process that samples
        dtype = str(model.dtype).removeprefix("torch.")
        server = managed_server(source, device, dtype, cfg.seed, cfg.rollout, stage.out, cluster.layout(cfg, run.dir))
    multi_turn = tool_rollout(cfg)  # None unless rollout.max_turns > 1
    tools = contextlib.closing(multi_turn) if multi_turn else contextlib.nullcontext()
    with stage.training(), server as server_url, tools:
        args.vllm_server_base_url = server_url
        trainer = RolloutGRPOTrainer(
            model=model,
            reward_funcs=[r.fn for r in rewards],
            args=args,
            train_dataset=train_dataset,
            processing_class=tokenizer,
            callbacks=stage.callbacks(
                MismatchWarning(cfg.rollout.max_logp_difference, cfg.grpo.importance_sampling.max_mismatch_kl)
            ),
            cpu_engine=cpu_engine_args(cfg, args, model, device, server_url, stage.out),
            peft_config=peft_config(cfg.model.lora, model),
            rollout_func=multi_turn,
        )
        trainer.expert_load = ExpertLoad(model) if is_moe(model) else None
        trainer.dynamic_sampling = cfg.grpo.dynamic_sampling
        trainer.routing_agreement = routing_agreement(cfg, trainer, model)
        if cfg.rollout.seed_per_request and colocated_cpu_engine(trainer) is None:
            logger.warning(
                "rollout.seed_per_request applies to vLLM colocated on CPU; this engine samples from its own "
                "random stream"
            )
        stage.train(trainer)
    routing = trainer.expert_load.totals() if trainer.expert_load else None
    agreement = trainer.routing_agreement.totals() if trainer.routing_agreement else None
    if routing and agreement:
        routing["routing_agreement"] = agreement
    reward_keys = ["reward"] + [f"rewards/{r.name}/mean" for r in rewards]
    model_dir, metrics = stage.save(tokenizer, source, plot=("rewards.png", reward_keys, "GRPO rewards"))

    def logged(key: str) -> list[float]:
        return [entry[key] for entry in trainer.state.log_history if key in entry]

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    history = [h for h in trainer.state.log_history if "reward" in h]
    mismatch, mismatch_kl = logged(MismatchWarning.KEY), logged(MismatchWarning.KL_KEY)
    clipped, kept = logged("rollout/is_clipped_share"), logged("dynamic_sampling/kept_share")
    tools_used = {key.removeprefix("tools/"): mean(logged(key)) for key in TOOL_METRICS}
    return StageResult(
        checkpoint=str(model_dir),
        metrics={
            **metrics,
            "reward_first": history[0]["reward"] if history else None,
            "reward_last": history[-1]["reward"] if history else None,
            "rollout_engine": "vllm" if args.use_vllm else "hf",
            # the worst |log p_vLLM - log p_policy| of a sampled token: ~1e-5 when the weight sync is right
            "max_logp_difference": max(mismatch) if mismatch else None,
            # KL(engine || policy) on the sampled tokens, and the share of importance ratios out of the clip range
            "mismatch_kl_max": max(mismatch_kl) if mismatch_kl else None,
            "is_clipped_share_mean": mean(clipped),
            "importance_sampling": importance_sampling_mode(cfg, device) if args.use_vllm else None,
            # dynamic sampling: the first round's share of groups whose rewards differ, over the run
            **({"dynamic_sampling_kept_share": mean(kept)} if kept else {}),
            # multi-turn tool rollouts: replies and calls per episode, failed share of calls, over the run
            **({"tools": tools_used} if multi_turn else {}),
            # per reward: calls, samples scored, samples that failed (rank 0's; W&B has rewards/<name>/failed)
            "rewards": {r.name: r.fn.stats() for r in rewards},
            **({"moe": routing} if routing else {}),
        },
    )
