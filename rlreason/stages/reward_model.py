"""Stage **reward_model**: a sequence-classification reward model trained on preference pairs with TRL's
``RewardTrainer`` (Bradley-Terry loss on chosen vs rejected).

Features:
- Pairs from ``reward_model.train_file`` / ``test_file`` (TRL's preference format), or built from the tasks
  (``rlreason/data/preferences.py``): a refusal over compliance for harmful requests, a helpful answer over a
  refusal for benign ones, the expected tool call over a wrong one, a finished chain over a shortcut.
- The backbone is ``reward_model.backbone`` or, by default, the run's latest policy checkpoint (the SFT
  model, as InstructGPT and R1 start theirs), with a fresh one-logit head; it shares the policy's tokenizer,
  so it reads prompts exactly as GRPO renders them.
- Held-out pairwise accuracy (share of test pairs scored chosen > rejected), overall and per task, in
  ``summary.json``; W&B logging; checkpoints every ``reward_model.save_steps`` and on a stop signal, resumed
  on re-run.
- The model is saved to ``<run>/reward_model/model``; GRPO uses it as ``fn: rm:<that folder>``
  (``pipeline=r1_rm``). It is not a policy checkpoint: later stages start from the policy as before, and the
  eval stage does not evaluate it.
- A training stage like SFT and GRPO: under ``distributed=zero2|zero3`` it runs on ``distributed.num_processes``
  processes, ``reward_model.batch_size`` pairs per step split over them; rank 0 scores the held-out pairs.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from transformers import AutoConfig, AutoModelForSequenceClassification
from trl import RewardConfig, RewardTrainer

from rlreason import tracking
from rlreason.data.preferences import file_pairs, rendered, task_pairs
from rlreason.distributed.comm import from_every_process, is_main_process, per_process
from rlreason.distributed.zero import prepare_model, trainer_args
from rlreason.models.loading import ResumeConvertedWeights, load_tokenizer
from rlreason.rewards.model import RewardModel
from rlreason.runtime import peak_memory_mib, precision_args, resolve_device, seconds_per_step, seed_everything
from rlreason.models.lora import peft_config
from rlreason.stages.contract import StageResult
from rlreason.stages.training import SaveOnInterrupt, last_complete_checkpoint, parameter_metrics, save_trained

logger = logging.getLogger(__name__)

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = ("seed", "data", "model.lora", "reward_model")


class RewardStageTrainer(ResumeConvertedWeights, RewardTrainer):
    """TRL's ``RewardTrainer``, resuming an MoE backbone with its trained experts (``ResumeConvertedWeights``)."""


def preference_splits(cfg, seed: int):
    """(train pairs, test pairs) as the config says: files, or built from the tasks."""
    rm = cfg.reward_model
    if rm.train_file:
        train = file_pairs(rm.train_file, "reward_model.train_file")
        if rm.test_file:
            return train, file_pairs(rm.test_file, "reward_model.test_file")
        cut = max(1, len(train) // 10)  # no test file: the last tenth is held out
        return train[:-cut], train[-cut:]
    return task_pairs(cfg.data, "train", rm.pairs_per_task, seed), task_pairs(cfg.data, "test", rm.test_pairs_per_task, seed)


def pairwise_accuracy(model: RewardModel, test) -> dict:
    """Share of held-out pairs the model scores chosen > rejected: overall, per task, and the mean margin."""
    chosen = model.score_texts([p + c for p, c in zip(test["prompt"], test["chosen"])])
    rejected = model.score_texts([p + r for p, r in zip(test["prompt"], test["rejected"])])
    wins = defaultdict(list)
    for task, good, bad in zip(test["task"], chosen, rejected):
        wins[task].append(good > bad)
    every = [w for task_wins in wins.values() for w in task_wins]
    return {
        "accuracy": sum(every) / len(every),
        "accuracy_per_task": {task: sum(w) / len(w) for task, w in wins.items()},
        "margin": sum(g - b for g, b in zip(chosen, rejected)) / len(chosen),
        "test_pairs": len(every),
    }


def run(cfg, run) -> StageResult:
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    rm = cfg.reward_model
    backbone = rm.backbone or run.latest_checkpoint()
    out = run.stage_dir("reward_model")
    checkpoints = out / "checkpoints"
    tokenizer = load_tokenizer(backbone)
    train_pairs, test_pairs = preference_splits(cfg, cfg.seed)
    train, test = rendered(train_pairs, tokenizer), rendered(test_pairs, tokenizer)
    logger.info("reward_model: %d training pairs, %d held out, backbone %s", len(train), len(test), backbone)
    args = RewardConfig(
        output_dir=str(checkpoints),
        num_train_epochs=rm.num_train_epochs,
        per_device_train_batch_size=per_process(rm.batch_size, "reward_model.batch_size"),
        learning_rate=rm.learning_rate,
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        lr_scheduler_type=rm.lr_scheduler_type,
        warmup_steps=rm.warmup_steps,
        max_length=rm.max_length,
        center_rewards_coefficient=rm.center_rewards_coefficient,
        logging_steps=rm.logging_steps,
        **({"save_strategy": "steps", "save_steps": rm.save_steps} if rm.save_steps else {"save_strategy": "no"}),
        save_total_limit=rm.save_total_limit,
        report_to=tracking.report_to(cfg),
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        **precision_args(device),
        **trainer_args(out),
    )
    resume = last_complete_checkpoint(checkpoints)
    with tracking.stage_run(cfg, run, "reward_model"), SaveOnInterrupt() as interrupt:
        trainer = RewardStageTrainer(model=backbone, args=args, train_dataset=train.remove_columns("task"),
                                     processing_class=tokenizer, callbacks=[interrupt],
                                     peft_config=peft_config(cfg.model.lora, AutoConfig.from_pretrained(backbone), "SEQ_CLS"))
        if trainer.model.config.pad_token_id is None:  # the head reads the last token before the padding
            trainer.model.config.pad_token_id = tokenizer.pad_token_id
        prepare_model(trainer.model, cfg.distributed.strategy)  # before train() wraps it in DeepSpeed's engine
        result = trainer.train(resume_from_checkpoint=resume)
    interrupt.raise_if_requested("reward_model", trainer.state.global_step)
    memory = from_every_process(round(peak_memory_mib(device), 1))
    model_dir = save_trained(trainer, out, tokenizer, cfg.model.lora, backbone, AutoModelForSequenceClassification,
                             num_labels=1, pad_token_id=tokenizer.pad_token_id)
    held_out = {}
    if is_main_process():
        tracking.plot_training_curves(trainer.state.log_history, out / "loss.png", ["loss", "accuracy"], "Reward model")
        held_out = pairwise_accuracy(RewardModel(str(model_dir), device=device, max_length=rm.max_length), test)
        logger.info("reward_model: held-out pairwise accuracy %.3f (%s)", held_out["accuracy"],
                    ", ".join(f"{k} {v:.3f}" for k, v in held_out["accuracy_per_task"].items()))
    return StageResult(
        checkpoint=None,  # not a policy: the next stage starts from the latest policy checkpoint
        metrics={"model": str(model_dir), "backbone": backbone, "train_pairs": len(train), "train_loss": result.training_loss,
                 "steps": result.global_step, "resumed_from": resume, "seconds_per_step": seconds_per_step(result, resume),
                 "peak_memory_mib": memory,  # per training process, in rank order
                 **parameter_metrics(trainer, cfg.model.lora), **held_out},
    )
