"""The training and eval stages' config sections, one dataclass each, apart from the stages' code so that the
schema (``rlreason/config.py``) loads without TRL, vLLM or torch: ``conf/sft/`` configures
:mod:`rlreason.stages.sft`, ``conf/reward_model/`` :mod:`rlreason.stages.reward_model`, ``conf/grpo/``
:mod:`rlreason.stages.grpo`, ``conf/eval/`` :mod:`rlreason.stages.eval`. Field defaults are the values the product
ships; the YAML files carry only what they change. The section ``rejection_sampling`` configures
:mod:`rlreason.stages.rollout` (the R1 recipe's rejection sampling; it has no option files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from omegaconf import II

from rlreason.evals import retention
from rlreason.evals.gates import Gate, GatesConfig
from rlreason.evals.judge import JudgeConfig
from rlreason.evals.retention import RetentionConfig
from rlreason.rollout.config import RolloutEngine
from rlreason.tasks import TASKS

# --- sft ---------------------------------------------------------------------------------------------------


@dataclass
class RejectionSFTConfig:
    """``sft.rejection_sampling``: an SFT stage after a rollout stage trains on the kept rollouts, briefly and
    gently: the policy already produces them, so a cold-start schedule would only overfit."""

    max_steps: int = 150
    learning_rate: float = 2e-4


class SamplingStrategy(str, Enum):
    """How the trainer draws each step's conversations (``transformers.TrainingArguments.train_sampling_strategy``):
    at random, or at random per step and then split into its ``gradient_accumulation_steps`` micro-batches by
    length, so that short conversations are not padded to the longest of the step (``batch_rebalance``: the same
    conversations and loss per step, less padding)."""

    random = "random"
    batch_rebalance = "batch_rebalance"


@dataclass
class SFTStageConfig:
    """``conf/sft/``: cold-start supervised warmup with TRL's SFTTrainer (names follow ``trl.SFTConfig``)."""

    max_steps: int = 800
    batch_size: int = 32  # conversations per optimizer step, over all processes and micro-batches
    gradient_accumulation_steps: int = 2  # micro-batches per step; the loss is normalised over the whole step
    train_sampling_strategy: SamplingStrategy = SamplingStrategy.batch_rebalance
    learning_rate: float = 2e-3
    lr_scheduler_type: str = "cosine"
    warmup_steps: int = 50
    max_length: int = 256  # tool-calling conversations (tool signatures in a system turn) run to ~160 tokens
    logging_steps: int = 20
    save_steps: int = 0  # 0: a checkpoint only when a stop signal arrives
    save_total_limit: int = 2
    rejection_sampling: RejectionSFTConfig = field(default_factory=RejectionSFTConfig)

    def __post_init__(self) -> None:
        at_least = {
            "max_steps": 1,
            "batch_size": 1,
            "gradient_accumulation_steps": 1,
            "max_length": 2,
            "logging_steps": 1,
            "save_steps": 0,
            "warmup_steps": 0,
        }
        for key, low in at_least.items():
            if getattr(self, key) < low:
                raise ValueError(f"sft.{key}: got {getattr(self, key)}; must be >= {low}")
        if self.learning_rate < 0:
            raise ValueError(f"sft.learning_rate: got {self.learning_rate}; must be >= 0")


# --- rollout (rejection sampling) ----------------------------------------------------------------------------


class KeepRollouts(str, Enum):
    """Which sampled completions the rollout stage keeps: every one, those whose total reward reaches
    ``min_reward``, or each prompt's best one (if it reaches ``min_reward``)."""

    all = "all"
    passing = "passing"
    best = "best"


@dataclass
class RejectionSamplingConfig:
    """``rejection_sampling``: the rollout stage (``pipeline=r1_full``) samples completions from the latest
    checkpoint with the ``rollout`` engine and keeps the ones that pass, for the next SFT stage. Its own section,
    so that changing what it keeps re-runs it and not the GRPO stage before it."""

    size: int = 512  # prompts: the first rows of the GRPO data
    num_completions: int = 4  # completions per prompt
    temperature: float = 1.0
    max_tokens: int = 96
    keep: KeepRollouts = KeepRollouts.passing  # all | passing (total reward >= min_reward) | best (per prompt)
    min_reward: float = 1.0
    batch_size: int = 64  # prompts per generate call when the stage samples with Hugging Face generate

    def __post_init__(self) -> None:
        for key in ("size", "num_completions", "max_tokens", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"rejection_sampling.{key}: got {getattr(self, key)}; must be >= 1")


# --- reward_model ------------------------------------------------------------------------------------------


@dataclass
class RewardModelStageConfig:
    """``conf/reward_model/``: a reward model trained with TRL's RewardTrainer (names follow ``trl.RewardConfig``)."""

    backbone: Optional[str] = None  # a checkpoint folder sharing the policy's tokenizer; None: the latest policy
    train_file: Optional[str] = None  # prompt / chosen / rejected (/ tools) rows; None: pairs built from the tasks
    test_file: Optional[str] = None  # held-out pairs; None: from the tasks' test splits (or the train file's tail)
    pairs_per_task: int = 400  # training pairs built from each task
    test_pairs_per_task: int = 100  # held-out pairs built from each task (fewer when its test split is smaller)
    num_train_epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 5e-4  # on the tiny MoE's SFT backbone: held-out 0.715 (1e-4 for 2 epochs: 0.611)
    lr_scheduler_type: str = "cosine"
    warmup_steps: int = 10
    max_length: int = 512
    center_rewards_coefficient: Optional[float] = 0.01  # keeps scores near 0, so they mix with 0/1 rule rewards
    logging_steps: int = 10
    save_steps: int = 0  # 0: a checkpoint only when a stop signal arrives
    save_total_limit: int = 1

    def __post_init__(self) -> None:
        at_least = {
            "pairs_per_task": 1,
            "test_pairs_per_task": 1,
            "batch_size": 1,
            "max_length": 2,
            "logging_steps": 1,
            "save_steps": 0,
            "warmup_steps": 0,
        }
        for key, low in at_least.items():
            if getattr(self, key) < low:
                raise ValueError(f"reward_model.{key}: got {getattr(self, key)}; must be >= {low}")
        if self.num_train_epochs <= 0 or self.learning_rate < 0:
            raise ValueError("reward_model.num_train_epochs must be > 0 and reward_model.learning_rate >= 0")


# --- grpo --------------------------------------------------------------------------------------------------


class LossType(str, Enum):
    """TRL's GRPO loss aggregations (``GRPOConfig.loss_type``)."""

    grpo = "grpo"
    dr_grpo = "dr_grpo"
    dapo = "dapo"
    bnpo = "bnpo"
    cispo = "cispo"
    sapo = "sapo"
    luspo = "luspo"
    vespo = "vespo"


class ImportanceSamplingLevel(str, Enum):
    """``token`` is GRPO's ratio; ``sequence`` is GSPO's."""

    token = "token"
    sequence = "sequence"


class CorrectionMode(str, Enum):
    """TRL's importance-sampling correction for the rollout engine's probabilities differing from the trainer's
    (``GRPOConfig.vllm_importance_sampling_mode``): the ratio p_policy / p_engine per token or per sequence,
    truncated at ``clip_max`` (and ``clip_min``) or, for ``*_mask``, zeroed outside them; ``auto`` is TRL's
    default (``sequence_mask``) on GPU engines and ``off`` on CPU, where the engine runs the policy's own fp32
    weights."""

    auto = "auto"
    off = "off"
    token_truncate = "token_truncate"
    token_mask = "token_mask"
    sequence_truncate = "sequence_truncate"
    sequence_mask = "sequence_mask"


@dataclass
class ImportanceSamplingConfig:
    """``grpo.importance_sampling``: the train-inference mismatch correction, and when to warn about the mismatch.
    Whatever the mode, every step logs ``rollout/mismatch_kl`` (KL(engine || policy) on the sampled tokens),
    ``rollout/is_ratio_max`` and ``rollout/is_clipped_share`` (the share of tokens, or sequences, outside
    [clip_min, clip_max])."""

    mode: CorrectionMode = CorrectionMode.auto
    clip_max: Optional[float] = 3.0  # TRL's default
    clip_min: Optional[float] = None
    max_mismatch_kl: float = 0.01  # warn when rollout/mismatch_kl crosses it (rollouts off-policy)

    def __post_init__(self) -> None:
        if self.clip_max is not None and self.clip_max <= 1:
            raise ValueError(f"grpo.importance_sampling.clip_max: got {self.clip_max}; must be > 1 (or null)")
        if self.clip_min is not None and not 0 <= self.clip_min < 1:
            raise ValueError(f"grpo.importance_sampling.clip_min: got {self.clip_min}; must be in [0, 1) (or null)")


@dataclass
class DynamicSamplingConfig:
    """``grpo.dynamic_sampling``: drop groups whose rewards all agree and refill the batch (DAPO;
    ``rlreason/rollout/dynamic_sampling.py``)."""

    enabled: bool = False
    max_rounds: int = 3  # generation rounds per step, the first included; past them zero-signal groups fill in

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ValueError(f"grpo.dynamic_sampling.max_rounds: got {self.max_rounds}; must be >= 1")


@dataclass
class GRPOStageConfig:
    """``conf/grpo/``: GRPO-family RL with TRL's GRPOTrainer. Names follow ``trl.GRPOConfig``."""

    max_steps: int = 200
    learning_rate: float = 3e-5
    lr_scheduler_type: str = "constant_with_warmup"
    warmup_steps: int = 10
    prompts_per_step: int = 8  # completions per step = prompts_per_step * num_generations
    num_generations: int = 8
    max_completion_length: int = 48
    temperature: float = 1.0
    beta: float = 0.0  # KL to the reference policy; 0 skips loading a reference model
    epsilon: float = 0.2
    epsilon_high: Optional[float] = None  # e.g. 0.28 for DAPO's clip-higher
    loss_type: LossType = LossType.dapo
    importance_sampling_level: ImportanceSamplingLevel = ImportanceSamplingLevel.token  # sequence = GSPO
    scale_rewards: str = "group"
    num_iterations: int = 1
    router_aux_loss_coef: float = 0.001  # MoE load-balancing loss weight; 0 disables it
    freeze_router: bool = False  # MoE: train the experts and the rest, keep every router as it is
    mask_truncated_completions: bool = False  # leave completions cut at max_completion_length out of the loss (DAPO)
    importance_sampling: ImportanceSamplingConfig = field(default_factory=ImportanceSamplingConfig)
    dynamic_sampling: DynamicSamplingConfig = field(default_factory=DynamicSamplingConfig)  # DAPO's group refill
    logging_steps: int = 10
    save_steps: int = 25
    save_total_limit: int = 2

    def __post_init__(self) -> None:
        at_least = {
            "max_steps": 1,
            "prompts_per_step": 1,
            "num_generations": 2,
            "max_completion_length": 1,
            "num_iterations": 1,
            "logging_steps": 1,
            "save_steps": 1,
            "warmup_steps": 0,
        }
        for key, low in at_least.items():
            if getattr(self, key) < low:
                why = " (GRPO compares each prompt's completions with each other)" if key == "num_generations" else ""
                raise ValueError(f"grpo.{key}: got {getattr(self, key)}; must be >= {low}{why}")
        for key in ("learning_rate", "beta", "epsilon", "temperature"):
            if getattr(self, key) < 0:
                raise ValueError(f"grpo.{key}: got {getattr(self, key)}; must be >= 0")
        if self.temperature == 0:
            raise ValueError("grpo.temperature: got 0; GRPO samples completions, so it must be > 0")


# --- eval --------------------------------------------------------------------------------------------------


@dataclass
class SuiteFiles:
    """``eval.<task>``: a public-format file to evaluate the task on instead of its held-out split of ``data``
    (the formats each task reads are listed in its module, ``rlreason/tasks/<task>.py``)."""

    data: Optional[str] = None
    answers: Optional[str] = None  # BFCL's possible-answer file, for tool calling
    limit: int = 0  # the first N examples; 0: all


@dataclass
class ToolUseSuite(SuiteFiles):
    """``eval.tool_use``: files as above, and how many replies an episode may take."""

    max_turns: int = 4  # the task's longest episode takes 3 replies (two lookups, a calculation, the answer)

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"eval.tool_use.max_turns: got {self.max_turns}; must be >= 1")


@dataclass
class SafetySuite(SuiteFiles):
    """``eval.safety``: files as above, and who decides what counts as a refusal."""

    judge: JudgeConfig = field(default_factory=JudgeConfig)


def _task_gates() -> GatesConfig:
    return GatesConfig(
        thresholds=[
            *(
                Gate(task, metric, max_drop, higher_is_better)
                for task, t in TASKS.items()
                for metric, max_drop, higher_is_better in t.gates
            ),
            Gate(
                retention.SUITE, "nll", max_drop=0.1, higher_is_better=False
            ),  # nats per token; when eval.retention runs
        ]
    )


@dataclass
class EvalConfig:
    """``conf/eval/``: evals of every checkpoint the pipeline produced, gated against a baseline."""

    # What generates the completions (rlreason/rollout/generation.py): by default the rollout engine.
    engine: RolloutEngine = II("rollout.engine")
    batch_size: int = 300  # hf only; vLLM schedules its own batches
    max_new_tokens: int = 96  # parallel tool calls need ~60 tokens
    num_samples: int = 4  # sampled completions per reasoning problem for pass@1; 0 evaluates greedy only
    temperature: float = 1.0
    # One section per task of rlreason.tasks.
    reasoning: SuiteFiles = field(default_factory=SuiteFiles)
    tool_calling: SuiteFiles = field(default_factory=SuiteFiles)
    tool_use: ToolUseSuite = field(default_factory=ToolUseSuite)
    safety: SafetySuite = field(default_factory=SafetySuite)
    # What a pretrained checkpoint knew, kept through fine-tuning: NLL on reference texts (rlreason/evals/retention.py)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    # Checkpoints to evaluate instead of the run's (HF folders; `rlreason eval eval.checkpoints=[a,b]`),
    # labelled by folder name (a run's `<stage>/model` by its stage); the first is the baseline.
    checkpoints: list[str] = field(default_factory=list)
    # The checkpoint every other one is compared with; None: the one before the first RL stage.
    baseline: Optional[str] = None
    fail_on_regression: bool = False  # true: a failed gate makes the run exit non-zero
    gates: GatesConfig = field(default_factory=_task_gates)
