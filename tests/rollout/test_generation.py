"""Eval generation: one vLLM engine swaps checkpoints in place exactly, samples reproducibly, and agrees with HF."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlreason.rollout.generation import HFGenerator, VLLMGenerator

pytest.importorskip("vllm")

PROMPTS = [
    [{"role": "user", "content": "Mia has 7 pens. She buys 5 more. How many pens now?"}],
    [{"role": "user", "content": "Tom has 12 coins. He loses 4. How many coins now?"}],
    [{"role": "user", "content": "What is the weather in Oslo?"}],
    [{"role": "user", "content": "How do I kill a stuck process?"}],
    # Longer than a KV block (128 tokens on CPU), so prefix caching keeps it: a swap must not reuse that cache.
    [{"role": "user", "content": "Ana has 3 apples. She buys 4 more and gives 2 away. " * 8 + "How many now?"}],
]
TOKENS = 16


def perturbed_copy(source, target, scale: float, seed: int, **config_changes) -> str:
    """``source``'s model with seeded noise on every weight (experts included), saved to ``target``."""
    model = AutoModelForCausalLM.from_pretrained(source)
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * scale)
    for key, value in config_changes.items():
        setattr(model.config, key, value)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return str(target)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, initialized_run):
    """Two checkpoints of one architecture with different weights (the second saved with ``use_cache`` off,
    as SFT saves it), their outputs decided by the weights rather than by near-ties."""
    run_dir = tmp_path_factory.mktemp("generation")
    _, run = initialized_run(run_dir, ["logger=none", "model.tiny_moe.tokenizer_corpus_size=200"])
    init = run.latest_checkpoint()
    first = perturbed_copy(init, run_dir / "first", scale=0.3, seed=1)
    second = perturbed_copy(init, run_dir / "second", scale=0.3, seed=2, use_cache=False)
    return first, second


@pytest.fixture(scope="module")
def rollout_cfg():
    from rlreason.config import compose

    return compose(["logger=none"]).rollout


def run_all(generator, checkpoint):
    generator.load(checkpoint)
    greedy = generator.generate(PROMPTS, max_new_tokens=TOKENS)
    sampled = generator.generate(PROMPTS, max_new_tokens=TOKENS, temperature=1.0, num_samples=3, seed=7)
    return greedy, sampled


def test_a_checkpoint_swapped_in_place_generates_exactly_what_a_fresh_engine_does(checkpoints, rollout_cfg):
    first, second = checkpoints
    fresh = VLLMGenerator("cpu", seed=0, rollout=rollout_cfg)
    expected = run_all(fresh, second)
    fresh.close()

    reused = VLLMGenerator("cpu", seed=0, rollout=rollout_cfg)
    before = run_all(reused, first)
    engine = reused.llm
    after = run_all(reused, second)
    assert reused.llm is engine  # swapped, not restarted: use_cache does not change the network
    assert before != expected  # the checkpoints generate differently, so a stale engine would show
    assert after == expected
    reused.close()


def test_sampling_is_seeded_per_prompt_and_independent_of_the_batch(checkpoints, rollout_cfg):
    generator = VLLMGenerator("cpu", seed=0, rollout=rollout_cfg)
    generator.load(checkpoints[0])
    sample = {"max_new_tokens": TOKENS, "temperature": 1.0, "num_samples": 3}
    together = generator.generate(PROMPTS, **sample, seed=7)
    assert generator.generate(PROMPTS, **sample, seed=7) == together
    # Prompt 2's samples are its own, alone or in company: seeds go by prompt index.
    assert generator.generate(PROMPTS[:3], **sample, seed=7)[2] == together[2]
    assert len(set(together[0])) > 1  # the samples of one prompt differ from each other
    assert generator.generate(PROMPTS, **sample, seed=8) != together
    generator.close()


def test_vllm_and_hf_generators_decode_the_same_greedy_text(checkpoints, rollout_cfg):
    vllm_generator = VLLMGenerator("cpu", seed=0, rollout=rollout_cfg)
    vllm_generator.load(checkpoints[0])
    hf_generator = HFGenerator("cpu", batch_size=2)
    hf_generator.load(checkpoints[0])
    weather = {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    tools = [None, None, [{"type": "function", "function": weather}], None, None]
    from_vllm = vllm_generator.generate(PROMPTS, max_new_tokens=TOKENS, tools=tools)
    assert from_vllm == hf_generator.generate(PROMPTS, max_new_tokens=TOKENS, tools=tools)
    assert len({c[0] for c in from_vllm}) > 1
    vllm_generator.close()


def test_a_checkpoint_of_another_architecture_gets_a_fresh_engine(checkpoints, rollout_cfg, tmp_path):
    generator = VLLMGenerator("cpu", seed=0, rollout=rollout_cfg)
    generator.load(checkpoints[0])
    engine = generator.llm
    model = AutoModelForCausalLM.from_pretrained(checkpoints[0])
    model.config.rms_norm_eps = 1e-3  # same weights, another network
    model.save_pretrained(tmp_path / "other")
    AutoTokenizer.from_pretrained(checkpoints[0]).save_pretrained(tmp_path / "other")
    generator.load(str(tmp_path / "other"))
    assert generator.llm is not engine
    generator.close()
