"""vLLM colocated with the trainer on CPU: TRL's ``VLLMGeneration`` with a CPU-correct engine and weight sync.

On GPU rlreason uses TRL's colocate mode unchanged. On CPU two things in it are wrong for an MoE policy
(``docs/vllm-cpu.md``): the engine gets no dtype, so vLLM samples in bf16 while the policy trains in
fp32, and the per-parameter weight sync crashes or leaves stale prepacked experts. This subclass builds the
engine with the policy's dtype and CPU-friendly settings and syncs through :mod:`rlreason.rollout.weight_sync`;
generation, sampling parameters and logprobs stay TRL's.
"""

from __future__ import annotations

from trl.generation.vllm_generation import VLLMGeneration

from rlreason.rollout.engine import start_llm
from rlreason.rollout.weight_sync import checkpoint_format_weights, load_into_vllm


class CPUColocateGeneration(VLLMGeneration):
    """TRL's colocated vLLM generation, with the engine and the weight sync made correct on CPU."""

    def __init__(self, *args, dtype: str, seed: int, rollout, generation_kwargs: dict | None = None, **kwargs):
        self.dtype, self.seed, self.rollout = dtype, seed, rollout
        # TRL reads token ids and logprobs only; detokenizing every sampled token (and its logprob entry) is
        # a quarter of vLLM's generate time on the tiny MoE.
        generation_kwargs = {"detokenize": False, **(generation_kwargs or {})}
        super().__init__(*args, mode="colocate", generation_kwargs=generation_kwargs, **kwargs)

    def _init_vllm(self) -> None:
        self.llm = start_llm(
            self.model.name_or_path,
            device="cpu",
            dtype=self.dtype,
            seed=self.seed,
            rollout=self.rollout,
            max_num_seqs=self.max_num_seqs,
            max_num_batched_tokens=4096,
            # Hashing every KV block costs more than the shared-prompt prefill it saves on CPU (measured ~5%
            # of generate time for 8 prompts x 8 samples); and there is then no stale cache to reset on sync.
            enable_prefix_caching=False,
            # The sampling/* metrics (and TRL's correction) compare the policy's logprobs after temperature scaling.
            logprobs_mode="processed_logprobs",
            trust_remote_code=self.trust_remote_code,
        )
        self._llm_weights_sleeping = False

    @property
    def model_runner(self):
        return self.llm.llm_engine.model_executor.driver_worker.model_runner

    def sync_weights(self) -> None:
        load_into_vllm(self.model_runner, checkpoint_format_weights(self.accelerator.unwrap_model(self.model)))
