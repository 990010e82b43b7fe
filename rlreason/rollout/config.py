"""``conf/rollout/``: the engine that samples completions (GRPO, the rollout stage, and by default the evals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional


class RolloutEngine(str, Enum):
    """What samples completions: vLLM (colocated with the trainer, or a server) or Hugging Face ``generate``."""

    vllm = "vllm"
    hf = "hf"


class RolloutMode(str, Enum):
    """Where the vLLM engine lives: inside the training process, or in a server process."""

    colocate = "colocate"
    server = "server"


@dataclass
class ServerConfig:
    """``rollout.server``: the vLLM server of ``rollout=vllm_server``."""

    url: Optional[str] = None  # a server you run; null: the GRPO stage starts one on host:port
    host: str = "127.0.0.1"
    port: int = 8000
    timeout: float = 240.0  # seconds to wait for it to become healthy, and per request


@dataclass
class RolloutConfig:
    """``conf/rollout/``: the engine that samples completions (``rlreason/rollout/``) for GRPO, the rollout
    stage (whose own settings are ``rejection_sampling``) and the evals.

    Default (``rollout=vllm_colocate``): vLLM in the training process. On CPU the engine runs the policy's
    dtype, in-process, with weights synced by checkpoint-format reload and expert repack; on GPU it is TRL's
    colocate mode unchanged. Without vLLM installed, every stage falls back to Hugging Face generate.
    """

    engine: RolloutEngine = RolloutEngine.vllm
    mode: RolloutMode = RolloutMode.colocate
    server: ServerConfig = field(default_factory=ServerConfig)
    # vLLM on CPU: compiling adds ~20 s of start-up for no gain; a tiny model's KV cache is small.
    enforce_eager: bool = True
    kv_cache_gib: int = 1  # CPU KV cache (VLLM_CPU_KVCACHE_SPACE)
    gpu_memory_utilization: float = 0.3  # GPU share of the colocated engine (the trainer needs the rest)
    max_model_length: int = 512
    # Warn when sampling/sampling_logp_difference/max crosses this (rollouts off-policy).
    max_logp_difference: float = 0.5
    # MoE: sampled sequences per generation and process whose experts are compared between vLLM's forward and
    # the trainer's (moe/routing_agreement, rlreason/rollout/routing_agreement.py); 0 switches it off.
    routing_agreement_samples: int = 2
    # vLLM colocated on CPU: seed each sampled completion by the run's seed, the step and its place in the
    # step's global batch, so the samples do not depend on the number of training processes.
    seed_per_request: bool = False
    # Multi-turn tool rollouts (rlreason/rollout/multi_turn.py): a GRPO completion may take up to max_turns
    # replies; after a reply whose tool calls all name tools listed here, their results are appended as a tool
    # turn (masked out of the loss) and the policy goes on. 1: single-turn, TRL's own generation.
    max_turns: int = 1
    # built-in names (calculator, lookup), `package.module:function` or `path/file.py:function`
    tools: list[str] = field(default_factory=lambda: ["calculator", "lookup"])
    tool_timeout_s: float = 5.0  # a call still running after this returns an error to the policy
    tool_output_chars: int = 200  # a tool's output is cut to this many characters

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"rollout.max_turns: got {self.max_turns}; must be >= 1 (1: single-turn)")
        if self.routing_agreement_samples < 0:
            raise ValueError(
                f"rollout.routing_agreement_samples: got {self.routing_agreement_samples}; must be >= 0 (0: off)"
            )
