"""Stage **sft**: cold-start supervised warmup with TRL's ``SFTTrainer``.

Features:
- Conversational prompt-completion data mixed from every task (``rlreason/data/mixer.py``): the loss covers
  the assistant's reply only (in a multi-turn tool-use episode, its own turns, not what the tools returned:
  TRL's assistant-only loss where the chat template allows it, else one row per assistant turn).
- Precision from the device (fp32 on CPU, bf16 where the GPU supports it); seeded; W&B logging.
- One process, or several under DeepSpeed ZeRO (``distributed=zero2|zero3``): ``sft.batch_size`` stays the
  global batch, split over the processes (``rlreason/distributed/``).
- On an MoE, expert load, load imbalance and router entropy in every log line and in ``summary.json``
  (``rlreason/models/routing.py``).
- Starts from the latest checkpoint of the run (init's, or a previous stage's) and saves a HF folder.
- Checkpoints every ``sft.save_steps`` (0: only when stopped); Ctrl-C, SIGTERM or SIGUSR1 saves one before
  stopping, and a re-run resumes from the last.
- After a ``rollout`` stage (``pipeline=r1_full``) it trains on the completions that stage kept plus the
  tool-calling and safety demonstrations (R1's rejection-sampling SFT), with ``sft.rejection_sampling``'s
  shorter, gentler schedule.
"""

from __future__ import annotations

from transformers import AutoConfig
from transformers.trainer_pt_utils import BatchRebalanceSampler
from trl import SFTConfig, SFTTrainer
from trl.chat_template_utils import get_training_chat_template, has_generation_markers

from rlreason.data.mixer import has_tool_turns, one_row_per_turn, rollout_sft_dataset, sft_dataset
from rlreason.distributed.comm import per_process
from rlreason.distributed.zero import prepare_model
from rlreason.errors import UserError
from rlreason.models.loading import ResumeConvertedWeights, is_moe, load_policy, load_tokenizer
from rlreason.models.lora import peft_config
from rlreason.models.routing import ExpertLoad, LogsExpertLoad, has_trl_load_balancing
from rlreason.stages.contract import StageResult
from rlreason.stages.training import TrainingStage

# The config a completed stage depends on: a re-run with other values here re-runs it (rlreason/resume.py).
CONFIG_KEYS = ("seed", "data", "model.lora", "sft")


class SFTStageTrainer(LogsExpertLoad, ResumeConvertedWeights, SFTTrainer):
    """TRL's ``SFTTrainer``, resuming an MoE with its trained experts (``ResumeConvertedWeights``) and logging
    its expert load (``LogsExpertLoad``)."""

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, BatchRebalanceSampler):
            # transformers shuffles it with a fixed seed of its own (42); the run's seed orders its data
            sampler.seed = self.args.data_seed
        return sampler


def micro_batch_size(section) -> int:
    """Conversations per process and micro-batch: ``batch_size`` split over the processes, then over the
    ``gradient_accumulation_steps`` (under ``batch_rebalance`` only on average: long ones go in smaller ones)."""
    per_device = per_process(section.batch_size, "sft.batch_size")
    steps = section.gradient_accumulation_steps
    if per_device % steps:
        raise UserError(
            f"sft.batch_size: {section.batch_size} conversations per step give {per_device} per process, which "
            f"sft.gradient_accumulation_steps={steps} does not split evenly"
        )
    return per_device // steps


def trains_assistant_turns(tokenizer) -> bool:
    """Whether TRL's assistant-only loss works with the checkpoint's chat template: it has ``{% generation %}``
    markers (the tiny MoE's has), or TRL knows how to add them (``get_training_chat_template``)."""
    if has_generation_markers(tokenizer.chat_template):
        return True
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return False
    return True


def training_data(cfg, run):
    """(dataset, max_steps, learning_rate): the kept rollouts of the latest completed rollout stage with
    ``sft.rejection_sampling``'s schedule, else the cold-start demonstrations with the main one."""
    rollouts = [
        e["metrics"]["sft_dataset"]
        for label, e in run.summary["stages"].items()
        if label.startswith("rollout") and e["status"] == "completed"
    ]
    if rollouts:
        schedule = cfg.sft.rejection_sampling
        return rollout_sft_dataset(rollouts[-1], cfg.data, cfg.seed), schedule.max_steps, schedule.learning_rate
    return sft_dataset(cfg.data, cfg.seed), cfg.sft.max_steps, cfg.sft.learning_rate


def run(cfg, run) -> StageResult:
    stage = TrainingStage(cfg, run, "sft")
    source = run.latest_checkpoint()
    tokenizer = load_tokenizer(source)
    config = AutoConfig.from_pretrained(source)
    dataset, max_steps, learning_rate = training_data(cfg, run)
    # multi-turn demonstrations (data.tool_use): the tool turns inside a completion are not the policy's to learn
    assistant_only = has_tool_turns(dataset)
    if assistant_only and not trains_assistant_turns(tokenizer):
        dataset, assistant_only = one_row_per_turn(dataset), False
    args = SFTConfig(
        **stage.trainer_args(cfg.sft, max_steps=max_steps, learning_rate=learning_rate),
        per_device_train_batch_size=micro_batch_size(cfg.sft),
        gradient_accumulation_steps=cfg.sft.gradient_accumulation_steps,
        train_sampling_strategy=cfg.sft.train_sampling_strategy.value,
        max_length=cfg.sft.max_length,
        assistant_only_loss=assistant_only,
        # the architecture's own load-balancing weight (TRL's default), or none where TRL's loss cannot run
        router_aux_loss_coef=None if not is_moe(config) or has_trl_load_balancing(config) else 0.0,
    )
    model = load_policy(source)  # after the config: under ZeRO-3 each process loads its shards only
    prepare_model(model, cfg.distributed.strategy)
    with stage.training():
        trainer = SFTStageTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=stage.callbacks(),
            peft_config=peft_config(cfg.model.lora, model),
        )
        trainer.expert_load = ExpertLoad(model) if is_moe(model) else None
        result = stage.train(trainer)
    routing = trainer.expert_load.totals() if trainer.expert_load else None
    if is_moe(model):  # SFTTrainer switches router logits on for its aux loss; saved that way, generate crashes
        model.config.get_text_config().output_router_logits = False
    model_dir, metrics = stage.save(tokenizer, source, plot=("loss.png", ["loss", "mean_token_accuracy"], "SFT"))
    return StageResult(
        checkpoint=str(model_dir),
        metrics={"train_loss": result.training_loss, **metrics, **({"moe": routing} if routing else {})},
    )
