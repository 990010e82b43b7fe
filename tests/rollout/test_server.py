"""rollout=vllm_server on CPU: the GRPO stage starts a vLLM server, trains on its rollouts with weights
synced after every step, and stops it; an unreachable server is a clear error."""

import json

import pytest
import requests
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlreason.config import compose
from rlreason.rollout.server import OpenAIServerClient, ServerError, managed_server
from rlreason.stages import grpo

pytest.importorskip("vllm")

TINY = [
    "logger=none",
    "rollout=vllm_server",
    "rollout.server.port=8765",
    "grpo.max_steps=3",
    "grpo.learning_rate=3e-3",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=16",
    "grpo.save_steps=3",
    "grpo.logging_steps=1",
    "data.reasoning.grpo_size=16",
    "model.tiny_moe.tokenizer_corpus_size=200",
]


def test_grpo_trains_on_server_rollouts_and_the_server_ends_with_the_policy_weights(tmp_path, initialized_run):
    cfg, run = initialized_run(tmp_path, TINY)
    result = grpo.run(cfg, run)
    assert result.metrics["steps"] == 3 and result.metrics["rollout_engine"] == "vllm"
    assert (tmp_path / "grpo" / "vllm_server.log").stat().st_size > 0
    # The server sampled from the policy being trained at every step (weights change a lot at this learning
    # rate, so a missed sync would show): vLLM's and the policy's logprobs of the sampled tokens agree.
    history = json.loads((tmp_path / "grpo" / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())[
        "log_history"
    ]
    differences = [
        h["sampling/sampling_logp_difference/max"] for h in history if "sampling/sampling_logp_difference/max" in h
    ]
    assert len(differences) == 3 and max(differences) < 1e-3
    with pytest.raises(requests.ConnectionError):  # stopped with the stage
        requests.get("http://127.0.0.1:8765/health", timeout=2)

    # A fresh server on the trained checkpoint answers greedy requests exactly like the HF policy.
    tokenizer = AutoTokenizer.from_pretrained(result.checkpoint)
    policy = AutoModelForCausalLM.from_pretrained(result.checkpoint).eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Mia has 7 pens. She buys 5 more. How many pens now?"}],
        add_generation_prompt=True,
        return_dict=False,
    )
    expected = policy.generate(torch.tensor([prompt]), max_new_tokens=12, min_new_tokens=12, do_sample=False)[
        0, len(prompt) :
    ].tolist()
    with managed_server(result.checkpoint, "cpu", "float32", 0, cfg.rollout, tmp_path) as url:
        client = OpenAIServerClient(url, result.checkpoint, timeout=60)
        out = client.generate([prompt], n=1, temperature=0.0, max_tokens=12, generation_kwargs={"ignore_eos": True})
    assert out["completion_ids"] == [expected]
    assert len(out["logprobs"][0]) == 12


def test_an_unreachable_server_url_fails_naming_the_key(tmp_path):
    cfg = compose([f"run_dir={tmp_path}", *TINY, "rollout.server.url=http://127.0.0.1:9", "rollout.server.timeout=2"])
    with pytest.raises(ServerError, match=r"http://127.0.0.1:9 not healthy after 2 s \(rollout.server.timeout\)"):
        with managed_server("unused", "cpu", "float32", 0, cfg.rollout, tmp_path):
            pass


def test_a_server_that_dies_at_start_up_reports_its_log(tmp_path):
    cfg = compose([f"run_dir={tmp_path}", *TINY])
    with pytest.raises(ServerError, match="exited with code"):
        with managed_server(str(tmp_path / "no_such_model"), "cpu", "float32", 0, cfg.rollout, tmp_path):
            pass
