"""Stage **grpo**: GRPO-family reinforcement learning with TRL's ``GRPOTrainer``.

Features:
- Every loss TRL implements (``grpo.loss_type``: grpo, dr_grpo, dapo, bnpo, cispo, sapo, luspo, vespo) and
  GSPO through ``grpo.importance_sampling_level=sequence``; clipping ``epsilon``/``epsilon_high``; KL ``beta``.
- Rewards from the registry (``reward.functions``), weighted; TRL logs each one and ``sampling/*`` metrics.
- The MoE router load-balancing loss, weighted by ``grpo.router_aux_loss_coef`` (0 disables it).
- Checkpoints every ``grpo.save_steps``; Ctrl-C saves one before stopping; a re-run resumes from the last.
- Rollouts with Hugging Face ``generate``.
"""

from __future__ import annotations

from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.trainer_utils import get_last_checkpoint
from trl import GRPOConfig, GRPOTrainer

from rlreason import tracking
from rlreason.data.loaders import grpo_dataset
from rlreason.interrupt import SaveOnInterrupt
from rlreason.pipeline import StageResult
from rlreason.rewards import build_rewards
from rlreason.runtime import precision_args, resolve_device, seed_everything


def grpo_config(cfg, output_dir: str, reward_weights: list[float], device: str) -> GRPOConfig:
    g = cfg.grpo
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=g.max_steps,
        learning_rate=g.learning_rate,
        lr_scheduler_type=g.lr_scheduler_type,
        warmup_steps=g.warmup_steps,
        per_device_train_batch_size=g.prompts_per_step * g.num_generations,
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
        router_aux_loss_coef=g.router_aux_loss_coef,
        reward_weights=reward_weights,
        logging_steps=g.logging_steps,
        save_strategy="steps",
        save_steps=g.save_steps,
        save_total_limit=g.save_total_limit,
        report_to=tracking.report_to(cfg),
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        **precision_args(device),
    )


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    source = run.latest_checkpoint()
    out = run.stage_dir("grpo")
    checkpoints = out / "checkpoints"
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    # TRL requests router logits itself in the loss forward; left on in the config, HF generate crashes.
    model.config.output_router_logits = False
    rewards = build_rewards(cfg.reward)
    args = grpo_config(cfg, str(checkpoints), [r.weight for r in rewards], device)
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    with tracking.stage_run(cfg, run, "grpo"), SaveOnInterrupt() as interrupt:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[r.fn for r in rewards],
            args=args,
            train_dataset=grpo_dataset(cfg.data, cfg.seed),
            processing_class=tokenizer,
            callbacks=[interrupt],
        )
        result = trainer.train(resume_from_checkpoint=resume)
    if interrupt.requested:
        raise KeyboardInterrupt(f"GRPO interrupted at step {trainer.state.global_step}; re-run to resume")
    model_dir = out / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(model_dir)
    reward_keys = ["reward"] + [f"rewards/{r.name}/mean" for r in rewards]
    tracking.plot_training_curves(trainer.state.log_history, out / "rewards.png", reward_keys, "GRPO rewards")
    history = [h for h in trainer.state.log_history if "reward" in h]
    return StageResult(
        checkpoint=str(model_dir),
        metrics={
            "steps": result.global_step,
            "resumed_from": resume,
            "reward_first": history[0]["reward"] if history else None,
            "reward_last": history[-1]["reward"] if history else None,
        },
    )
