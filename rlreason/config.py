"""Structured configs: the schema every YAML file under ``conf/`` is merged into.

Hydra merges ``conf/`` into these dataclasses, so an unknown key or a value of the wrong type fails at
start-up with the key's full name. Fields whose values form a closed set are Enums, so OmegaConf lists the
allowed values in its error. Each dataclass sits next to the code it configures and is only gathered here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from rlreason.data.arithmetic import ArithmeticConfig
from rlreason.data.safety import SafetyDataConfig
from rlreason.data.tool_calling import ToolCallingConfig
from rlreason.evals.gates import GatesConfig
from rlreason.evals.judge import JudgeConfig
from rlreason.models.tiny_moe import TinyMoEConfig


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


class RolloutEngine(str, Enum):
    """What samples completions: vLLM (colocated with the trainer) or Hugging Face ``generate``."""

    vllm = "vllm"
    hf = "hf"


class RolloutMode(str, Enum):
    """Where the vLLM engine lives: inside the training process, or in a server process."""

    colocate = "colocate"
    server = "server"


class KeepRollouts(str, Enum):
    """Rejection sampling in the rollout stage: keep every completion, those at or above ``min_reward``, or
    each prompt's best one (if it reaches ``min_reward``)."""

    all = "all"
    passing = "passing"
    best = "best"


class DataSource(str, Enum):
    arithmetic = "arithmetic"
    file = "file"
    hub = "hub"


@dataclass
class ModelConfig:
    """``conf/model/``: the policy to start from. ``path`` (any HF checkpoint) wins over ``tiny_moe``."""

    # Each option of conf/model/ sets or requires it, so `model=pretrained` without a path fails at start-up.
    path: Optional[str] = MISSING
    tiny_moe: TinyMoEConfig = field(default_factory=TinyMoEConfig)


@dataclass
class DataConfig:
    """``conf/data/``: where prompts and gold answers come from (see ``rlreason/data/loaders.py``)."""

    source: DataSource = DataSource.arithmetic
    arithmetic: ArithmeticConfig = field(default_factory=ArithmeticConfig)
    # Rows per stage. The synthetic task generates exactly this many; file/hub sources keep the first N (0: all).
    sft_size: int = 4000
    grpo_size: int = 4000
    test_size: int = 300
    # source=file: jsonl/parquet files; source=hub: a `datasets.load_dataset` name or local dataset folder
    # MISSING until an option of conf/data/ sets them, so `data=file` without its files fails at start-up.
    train_file: Optional[str] = MISSING
    test_file: Optional[str] = MISSING
    path: Optional[str] = MISSING
    train_split: str = "train"
    test_split: str = "test"
    prompt_column: str = "prompt"
    answer_column: str = "answer"
    completion_column: str = "completion"
    # Synthetic skills mixed into every stage's data whatever the reasoning source: the model must keep
    # them through RL (eval gates), and `pipeline=r1_all_scenario` also rewards them in GRPO.
    tool_calling: ToolCallingConfig = field(default_factory=ToolCallingConfig)
    safety: SafetyDataConfig = field(default_factory=SafetyDataConfig)


@dataclass
class RejectionSFTConfig:
    """An SFT stage after a rollout stage trains on the kept rollouts, briefly and gently: the policy already
    produces them, so a cold-start schedule would only overfit."""

    max_steps: int = 150
    learning_rate: float = 2e-4


@dataclass
class SFTStageConfig:
    """``conf/sft/``: cold-start supervised warmup with TRL's SFTTrainer."""

    max_steps: int = 400
    batch_size: int = 32
    learning_rate: float = 2e-3
    lr_scheduler_type: str = "cosine"
    warmup_steps: int = 40
    max_length: int = 256
    logging_steps: int = 20
    rejection_sampling: RejectionSFTConfig = field(default_factory=RejectionSFTConfig)


@dataclass
class GRPOStageConfig:
    """``conf/grpo/``: GRPO-family RL with TRL's GRPOTrainer. Names follow ``trl.GRPOConfig``."""

    max_steps: int = 200
    learning_rate: float = 1e-4
    lr_scheduler_type: str = "constant_with_warmup"
    warmup_steps: int = 10
    prompts_per_step: int = 8
    num_generations: int = 8
    max_completion_length: int = 48
    temperature: float = 1.0
    beta: float = 0.0
    epsilon: float = 0.2
    epsilon_high: Optional[float] = None
    loss_type: LossType = LossType.dapo
    importance_sampling_level: ImportanceSamplingLevel = ImportanceSamplingLevel.token
    scale_rewards: str = "group"
    num_iterations: int = 1
    router_aux_loss_coef: float = 0.001
    logging_steps: int = 10
    save_steps: int = 50
    save_total_limit: int = 2


@dataclass
class ServerConfig:
    """``rollout.server``: the vLLM server of ``rollout=vllm_server``."""

    url: Optional[str] = None  # a server you run; null: the GRPO stage starts one on host:port
    host: str = "127.0.0.1"
    port: int = 8000
    timeout: float = 240.0  # seconds to wait for it to become healthy, and per request


@dataclass
class RolloutConfig:
    """``conf/rollout/``: the engine GRPO samples with (``rlreason/rollout/``) and the rollout stage's sampling."""

    engine: RolloutEngine = RolloutEngine.vllm
    mode: RolloutMode = RolloutMode.colocate
    server: ServerConfig = field(default_factory=ServerConfig)
    # vLLM on CPU (DESIGN.md): eager beats compiling here; the KV cache a tiny model needs is small.
    enforce_eager: bool = True
    kv_cache_gib: int = 1
    gpu_memory_utilization: float = 0.3
    max_model_length: int = 512
    # TRL's importance-sampling correction of vLLM/policy mismatch; None: on GPU, off on CPU (exact fp32 sync).
    importance_sampling_correction: Optional[bool] = None
    # Warn when sampling/sampling_logp_difference/max crosses this (rollouts off-policy).
    max_logp_difference: float = 0.5
    # The rollout stage (rlreason/stages/rollout.py): prompts from the GRPO data, n completions each.
    size: int = 512
    num_completions: int = 4
    temperature: float = 1.0
    max_tokens: int = 96
    keep: KeepRollouts = KeepRollouts.passing
    min_reward: float = 1.0


@dataclass
class RewardSpec:
    """One reward: ``fn`` is a built-in name, ``module:function``, ``path/file.py:function`` or a dotted path."""

    fn: Optional[str] = None
    _target_: Optional[str] = None
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardConfig:
    """``conf/reward/``: the weighted reward functions GRPO optimises (see ``rlreason/rewards.py``)."""

    functions: list[RewardSpec] = field(default_factory=list)
    # "raise": a reward that raises or returns the wrong length stops the run, naming reward and sample;
    # "none": the failure is logged and that sample's reward is None (TRL then ignores it).
    on_error: str = "raise"

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "none"):
            raise ValueError(f"reward.on_error: got {self.on_error!r}; allowed: 'raise', 'none'")


@dataclass
class SuiteFiles:
    """Files of one eval suite in a public format (see ``rlreason/evals/datasets.py``); unset: the
    synthetic held-out set of ``data`` is used."""

    data: Optional[str] = None
    answers: Optional[str] = None  # BFCL's possible-answer file, for function calling
    limit: int = 0  # the first N examples; 0: all


@dataclass
class SafetySuite(SuiteFiles):
    """``eval.safety``: files as above, and who decides what counts as a refusal."""

    judge: JudgeConfig = field(default_factory=JudgeConfig)


@dataclass
class EvalConfig:
    """``conf/eval/``: evals of every checkpoint the pipeline produced, gated against a baseline."""

    # What generates the completions (rlreason/evals/generation.py); conf/eval sets it to ${rollout.engine}.
    engine: RolloutEngine = RolloutEngine.vllm
    batch_size: int = 300
    max_new_tokens: int = 96
    num_samples: int = 4
    temperature: float = 1.0
    function_calling: SuiteFiles = field(default_factory=SuiteFiles)
    safety: SafetySuite = field(default_factory=SafetySuite)
    # Checkpoints to evaluate instead of the run's (HF folders; `rlreason eval eval.checkpoints=[a,b]`),
    # labelled by folder name (a run's `<stage>/model` by its stage); the first is the baseline.
    checkpoints: list[str] = field(default_factory=list)
    # The checkpoint every other one is compared with; null: the one before the first RL stage.
    baseline: Optional[str] = None
    fail_on_regression: bool = False
    gates: GatesConfig = field(default_factory=GatesConfig)


@dataclass
class LoggerConfig:
    """``conf/logger/``: ``wandb`` (offline unless ``mode=online``) or ``none``."""

    name: str = "wandb"
    project: str = "rlreason"
    mode: str = "offline"
    entity: Optional[str] = None

    def __post_init__(self) -> None:
        if self.name not in ("wandb", "none"):
            raise ValueError(f"logger.name: got {self.name!r}; allowed: 'wandb', 'none'")
        if self.mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.mode: got {self.mode!r}; allowed: 'offline', 'online', 'disabled'")


@dataclass
class PipelineConfig:
    """``conf/pipeline/``: the ordered stages to run."""

    name: str = "r1"
    stages: list[str] = field(default_factory=lambda: ["init", "sft", "grpo", "eval"])

    def __post_init__(self) -> None:
        from rlreason.stages import STAGES

        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"pipeline.stages: unknown stage(s) {unknown}; allowed: {sorted(STAGES)}")
        if self.stages and self.stages[0] != "init" and self.stages != ["eval"]:
            raise ValueError("pipeline.stages: the first stage must be 'init' (it resolves the policy), or run [eval] alone")


@dataclass
class RLReasonConfig:
    seed: int = 0
    run_dir: str = "runs/${now:%Y-%m-%d_%H-%M-%S}"
    device: str = "auto"
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sft: SFTStageConfig = field(default_factory=SFTStageConfig)
    grpo: GRPOStageConfig = field(default_factory=GRPOStageConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: got {self.device!r}; allowed: 'auto', 'cpu', 'cuda'")


def register_schema() -> None:
    """Make the schema available to ``conf/config.yaml``'s defaults list as ``rlreason_schema``."""
    ConfigStore.instance().store(name="rlreason_schema", node=RLReasonConfig)
