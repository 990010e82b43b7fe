import logging

import pytest
import torch
from transformers import DeepseekV2Config, LlamaConfig

from rlreason.rollout.config import RolloutEngine
from rlreason.rollout.engine import cpu_unsupported, uses_vllm

MLA = {"kv_lora_rank": 32, "q_lora_rank": None, "qk_rope_head_dim": 32, "qk_nope_head_dim": 32, "v_head_dim": 32}


def test_vllm_cpu_runs_latent_attention_in_half_precision_only():
    assert "multi-head latent attention" in cpu_unsupported(DeepseekV2Config(**MLA, dtype=torch.float32))
    assert cpu_unsupported(DeepseekV2Config(**MLA, dtype=torch.bfloat16)) is None
    assert cpu_unsupported(LlamaConfig(dtype=torch.float32)) is None


def test_an_engine_that_cannot_run_the_model_falls_back_to_hf_with_a_warning(caplog):
    pytest.importorskip("vllm")
    fp32_mla = DeepseekV2Config(**MLA, dtype=torch.float32)
    with caplog.at_level(logging.WARNING):
        assert not uses_vllm(RolloutEngine.vllm, "rollout.engine", device="cpu", config=fp32_mla)
    assert "rollout.engine=vllm: DeepseekV2Config's multi-head latent attention" in caplog.text
    assert "rollout.engine=hf silences this" in caplog.text
    assert uses_vllm(RolloutEngine.vllm, "rollout.engine", device="cuda", config=fp32_mla)  # GPU kernels take fp32
    assert uses_vllm(RolloutEngine.vllm, "rollout.engine", device="cpu", config=LlamaConfig())
    assert not uses_vllm(RolloutEngine.hf, "rollout.engine", device="cpu", config=LlamaConfig())
