"""The config schema: every YAML file under ``conf/`` is merged into these dataclasses.

Each section's dataclass sits next to the code it configures and is only gathered here; its field defaults
are the values the product ships (a YAML option carries only what it changes, and
``tests/test_config.py`` holds both to that). Hydra merges ``conf/`` into the schema, so an unknown key or a
value of the wrong type fails at start-up with the key's full name; fields whose values form a closed set
are Enums, so OmegaConf lists the allowed values in its error. ``rlreason --cfg job`` prints the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from rlreason.data.mixer import DataConfig
from rlreason.distributed.cluster import ClusterConfig
from rlreason.distributed.config import DistributedConfig, Strategy
from rlreason.models.loading import ModelConfig
from rlreason.pipeline import PipelineConfig
from rlreason.resume import ResumeConfig
from rlreason.rewards import RewardConfig
from rlreason.rollout.config import RolloutConfig
from rlreason.stages.eval import EvalConfig
from rlreason.stages.grpo import GRPOStageConfig
from rlreason.stages.reward_model import RewardModelStageConfig
from rlreason.stages.sft import SFTStageConfig
from rlreason.tracking import LoggerConfig


@dataclass
class RLReasonConfig:
    seed: int = 0  # every stage and every data split follows it
    # Re-running with the same run_dir resumes: valid completed stages are skipped, an interrupted one continues
    # from its checkpoint; a changed config is refused unless resume.on_change says otherwise.
    run_dir: str = "runs/${now:%Y-%m-%d_%H-%M-%S}"
    device: str = "auto"  # auto | cpu | cuda; precision follows it (fp32 on CPU, bf16 where the GPU has it)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sft: SFTStageConfig = field(default_factory=SFTStageConfig)
    grpo: GRPOStageConfig = field(default_factory=GRPOStageConfig)
    reward_model: RewardModelStageConfig = field(default_factory=RewardModelStageConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)  # what a re-run in the same run_dir reuses
    distributed: DistributedConfig = field(default_factory=DistributedConfig)  # training stages across processes
    cluster: ClusterConfig = field(default_factory=ClusterConfig)  # the nodes of a Slurm job, and their roles

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: got {self.device!r}; allowed: 'auto', 'cpu', 'cuda'")
        if self.model.lora.enabled and Strategy(self.distributed.strategy) in (Strategy.zero3, Strategy.zero3_offload):
            # measured: under ZeRO-3 the adapter the trainer saves does not hold what the shards trained
            raise ValueError("model.lora.enabled=true: not yet with distributed=zero3 (the saved adapter is not "
                             "gathered from the shards); use distributed=zero2, or full fine-tuning under zero3")


def register_schema() -> None:
    """Make the schema available to ``conf/config.yaml``'s defaults list as ``rlreason_schema``."""
    ConfigStore.instance().store(name="rlreason_schema", node=RLReasonConfig)
