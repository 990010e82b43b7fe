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

from rlreason.data.preferences import preference_splits, rendered
from rlreason.distributed.comm import is_main_process, per_process
from rlreason.distributed.zero import prepare_model
from rlreason.models.loading import ResumeConvertedWeights, load_tokenizer
from rlreason.models.lora import peft_config
from rlreason.rewards.model import RewardModel
from rlreason.stages.contract import StageResult
from rlreason.stages.training import TrainingStage

logger = logging.getLogger(__name__)

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = ("seed", "data", "model.lora", "reward_model")


class RewardStageTrainer(ResumeConvertedWeights, RewardTrainer):
    """TRL's ``RewardTrainer``, resuming an MoE backbone with its trained experts (``ResumeConvertedWeights``)."""


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
    stage = TrainingStage(cfg, run, "reward_model")
    rm = cfg.reward_model
    backbone = rm.backbone or run.latest_checkpoint()
    tokenizer = load_tokenizer(backbone)
    train_pairs, test_pairs = preference_splits(cfg, cfg.seed)
    train, test = rendered(train_pairs, tokenizer), rendered(test_pairs, tokenizer)
    logger.info("reward_model: %d training pairs, %d held out, backbone %s", len(train), len(test), backbone)
    args = RewardConfig(
        **stage.trainer_args(rm),
        num_train_epochs=rm.num_train_epochs,
        per_device_train_batch_size=per_process(rm.batch_size, "reward_model.batch_size"),
        max_length=rm.max_length,
        center_rewards_coefficient=rm.center_rewards_coefficient,
    )
    with stage.training():
        trainer = RewardStageTrainer(
            model=backbone,
            args=args,
            train_dataset=train.remove_columns("task"),
            processing_class=tokenizer,
            callbacks=stage.callbacks(),
            peft_config=peft_config(cfg.model.lora, AutoConfig.from_pretrained(backbone), "SEQ_CLS"),
        )
        if trainer.model.config.pad_token_id is None:  # the head reads the last token before the padding
            trainer.model.config.pad_token_id = tokenizer.pad_token_id
        prepare_model(trainer.model, cfg.distributed.strategy)  # before train() wraps it in DeepSpeed's engine
        result = stage.train(trainer)
    model_dir, metrics = stage.save(
        tokenizer,
        backbone,
        plot=("loss.png", ["loss", "accuracy"], "Reward model"),
        model_class=AutoModelForSequenceClassification,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    held_out = {}
    if is_main_process():
        held_out = pairwise_accuracy(RewardModel(str(model_dir), device=stage.device, max_length=rm.max_length), test)
        logger.info(
            "reward_model: held-out pairwise accuracy %.3f (%s)",
            held_out["accuracy"],
            ", ".join(f"{k} {v:.3f}" for k, v in held_out["accuracy_per_task"].items()),
        )
    return StageResult(
        checkpoint=None,  # not a policy: the next stage starts from the latest policy checkpoint
        metrics={
            "model": str(model_dir),
            "backbone": backbone,
            "train_pairs": len(train),
            "train_loss": result.training_loss,
            **metrics,
            **held_out,
        },
    )
