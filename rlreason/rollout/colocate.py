"""vLLM colocated with the trainer on CPU: TRL's ``VLLMGeneration`` with a CPU-correct engine and weight sync.

On GPU rlreason uses TRL's colocate mode unchanged. On CPU two things in it are wrong for an MoE policy
(``docs/vllm-cpu.md``): the engine gets no dtype, so vLLM samples in bf16 while the policy trains in
fp32, and the per-parameter weight sync crashes or leaves stale prepacked experts. This subclass builds the
engine with the policy's dtype and CPU-friendly settings and syncs through :mod:`rlreason.rollout.weight_sync`;
generation, sampling parameters and logprobs stay TRL's.

With ``rollout.seed_per_request`` every sampled completion gets its own seed, derived from the run's seed, the
training step and the completion's place in the step's global batch, instead of drawing from the engine's
one random stream: a completion then no longer depends on which process sampled it or with which others, so
a run on N processes samples what one process samples (how the multi-process GRPO tests compare losses).
"""

from __future__ import annotations

from trl.generation.vllm_generation import VLLMGeneration

from rlreason.rollout.engine import start_llm
from rlreason.rollout.weight_sync import checkpoint_format_weights, load_into_vllm


class CPUColocateGeneration(VLLMGeneration):
    """TRL's colocated vLLM generation, with the engine and the weight sync made correct on CPU."""

    def __init__(self, *args, dtype: str, seed: int, rollout, generation_kwargs: dict | None = None, **kwargs):
        self.dtype, self.seed, self.rollout = dtype, seed, rollout
        self.request_seeds: list[int] | None = None  # for the next generate call (set per step by the trainer)
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

    def seed_requests(self, step: int, count: int) -> None:
        """Seed the next ``generate`` call's ``count`` requests (this process's share of step ``step``'s batch) by
        their place in the global batch; a no-op unless ``rollout.seed_per_request``."""
        if self.rollout.seed_per_request:
            first = self.accelerator.process_index * count
            self.request_seeds = [request_seed(self.seed, step, first + i) for i in range(count)]

    def generate(self, prompts, *args, **kwargs):
        seeds, self.request_seeds = self.request_seeds, None
        if seeds is None or len(seeds) != len(prompts):
            return super().generate(prompts, *args, **kwargs)
        engine, self.llm = self.llm, SeededRequests(self.llm, seeds)
        try:
            return super().generate(prompts, *args, **kwargs)
        finally:
            self.llm = engine


def request_seed(seed: int, step: int, index: int) -> int:
    """The seed of the ``index``-th completion of step ``step``'s global batch in a run seeded ``seed``."""
    return ((seed * 1_000_003 + step) * 1_000_003 + index) % 2**63


class SeededRequests:
    """A ``vllm.LLM`` whose next ``generate`` call gives request ``i`` the sampling parameters TRL built, with
    seed ``seeds[i]`` (vLLM then samples it from its own generator, whatever else is in the batch)."""

    def __init__(self, llm, seeds: list[int]):
        self.llm, self.seeds = llm, seeds

    def __getattr__(self, name):
        return getattr(self.llm, name)

    def generate(self, prompts, sampling_params, **kwargs):
        per_request = []
        for seed in self.seeds:
            params = sampling_params.clone()
            params.seed = seed
            per_request.append(params)
        return self.llm.generate(prompts, sampling_params=per_request, **kwargs)
