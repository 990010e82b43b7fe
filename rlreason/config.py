"""The config: the schema every YAML file under ``conf/`` is merged into, and :func:`compose`, which builds and
checks it for an entry point (the ``rlreason`` command, a benchmark, a test).

Each section's dataclass sits next to the code it configures and is only gathered here; its field defaults
are the values the product ships (a YAML option carries only what it changes, and
``tests/test_config.py`` holds both to that). Hydra merges ``conf/`` into the schema, so an unknown key or a
value of the wrong type fails at start-up with the key's full name; fields whose values form a closed set
are Enums, so OmegaConf lists the allowed values in its error. ``rlreason --cfg job`` prints the result.

The schema's modules import torch, transformers, TRL, vLLM and DeepSpeed only inside the functions that use
them, so composing a config (``--help``, ``--cfg job``, a mistyped override) answers in about a second
(``tests/test_config.py`` checks that none of them is imported).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field

from hydra import compose as hydra_compose
from hydra import initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rlreason.data.mixer import DataConfig
from rlreason.distributed.cluster import ClusterConfig
from rlreason.distributed.config import DistributedConfig
from rlreason.errors import UserError, one_line
from rlreason.models.loading import ModelConfig
from rlreason.pipeline import PipelineConfig
from rlreason.resume import ResumeConfig
from rlreason.rewards import RewardConfig
from rlreason.rollout.config import RolloutConfig
from rlreason.stages.config import (
    EvalConfig,
    GRPOStageConfig,
    RejectionSamplingConfig,
    RewardModelStageConfig,
    SFTStageConfig,
)
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
    rejection_sampling: RejectionSamplingConfig = field(default_factory=RejectionSamplingConfig)  # rollout stage
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)  # what a re-run in the same run_dir reuses
    distributed: DistributedConfig = field(default_factory=DistributedConfig)  # training stages across processes
    cluster: ClusterConfig = field(default_factory=ClusterConfig)  # the nodes of a Slurm job, and their roles

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: got {self.device!r}; allowed: 'auto', 'cpu', 'cuda'")


CONFIG_MODULE = "rlreason.conf"  # the package holding conf/ (shipped in the wheel)

# Override keys an earlier release used; they still work on the command line, with a warning. A key ending in
# "." renames everything under it.
RENAMED_KEYS = {
    "data.arithmetic.": "data.reasoning.",
    "data.sft_size": "data.reasoning.sft_size",
    "data.grpo_size": "data.reasoning.grpo_size",
    "data.test_size": "data.reasoning.test_size",
    "eval.function_calling.": "eval.tool_calling.",
    # the mismatch correction's switch became a mode (RENAMED_VALUES maps its values)
    "rollout.importance_sampling_correction": "grpo.importance_sampling.mode",
    # the rollout stage's settings had shared the engine's section
    **{
        f"rollout.{key}": f"rejection_sampling.{key}"
        for key in ("size", "num_completions", "temperature", "max_tokens", "keep", "min_reward", "batch_size")
    },
}

# Values a renamed key took that its new key spells otherwise.
RENAMED_VALUES = {
    "rollout.importance_sampling_correction": {"true": "sequence_mask", "false": "off", "null": "auto"},
}


def renamed(args: list[str]) -> list[str]:
    """``args`` (command-line overrides) with renamed keys replaced by their new names, one warning line each."""
    fixed = []
    for arg in args:
        prefix = arg[: len(arg) - len(arg.lstrip("+~"))]
        key, sep, value = arg[len(prefix) :].partition("=")
        for old, new in RENAMED_KEYS.items():
            if key == old or (old.endswith(".") and key.startswith(old)):
                print(f"rlreason: {key} is now {new + key[len(old) :]}; the old name will go away", file=sys.stderr)
                value = RENAMED_VALUES.get(old, {}).get(value.lower(), value)
                arg = f"{prefix}{new}{key[len(old) :]}{sep}{value}"
                break
        fixed.append(arg)
    return fixed


def register_schema() -> None:
    """Make the schema available to ``conf/config.yaml``'s defaults list as ``rlreason_schema``."""
    ConfigStore.instance().store(name="rlreason_schema", node=RLReasonConfig)


class ConfigError(UserError):
    """A config problem, phrased as ``<key or override>: <what is wrong>; <what is allowed>``."""


def _chain(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def explain(error: BaseException) -> str:
    """One line for a composition or validation error, naming the key and what is allowed."""
    for cause in _chain(error):
        if isinstance(cause, MissingConfigException):
            missing = re.search(r"Could not find '([^']+)'", str(cause))
            options = cause.options or []
            if missing and "/" in missing.group(1):
                group, choice = missing.group(1).rsplit("/", 1)
                return f"{group}={choice}: no such option in conf/{group}/; allowed: {', '.join(sorted(options))}"
            return one_line(cause)
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            message = str(cause).splitlines()[0]
            unknown_key = isinstance(cause, (ConfigKeyError, ConfigAttributeError)) or "not in" in message
            if unknown_key and dataclasses.is_dataclass(cause.object_type):
                allowed = ", ".join(f.name for f in dataclasses.fields(cause.object_type))
                return f"{cause.full_key}: unknown key; allowed keys here: {allowed}"
            return f"{cause.full_key}: {message}"
        if isinstance(cause, ValueError) and not isinstance(cause, OmegaConfBaseException) and ": " in str(cause):
            return one_line(cause)
    return one_line(error)


def compose(overrides: list[str] = ()) -> DictConfig:
    """``conf/config.yaml`` with ``overrides``, merged into the schema and built (the dataclasses'
    ``__post_init__`` checks run): the config a run would get. Raises ``ConfigError`` with one line naming the
    key or override that is wrong and what is allowed."""
    register_schema()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(f"{', '.join(missing)}: required by the chosen config options; set it as an override")
        OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as error:  # composition raises several unrelated types; all mean "bad config"
        raise ConfigError(explain(error)) from error
    return cfg
