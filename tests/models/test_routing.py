import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3MoeConfig

from rlreason.config import compose
from rlreason.models.routing import ExpertLoad, routers
from rlreason.stages import sft

EXPERTS, TOP_K, LAYERS = 4, 2, 2


def _moe():
    torch.manual_seed(0)
    config = Qwen3MoeConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=32,
        moe_intermediate_size=16,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=EXPERTS,
        num_experts_per_tok=TOP_K,
    )
    return AutoModelForCausalLM.from_config(config)


def test_every_router_of_each_layer_is_watched_and_a_dense_model_has_none():
    assert len(routers(_moe())) == LAYERS
    with pytest.raises(ValueError, match="no ...TopKRouter"):
        ExpertLoad(
            AutoModelForCausalLM.from_config(
                LlamaConfig(
                    vocab_size=64, hidden_size=32, intermediate_size=32, num_hidden_layers=1, num_attention_heads=4
                )
            )
        )


def test_only_training_forwards_and_unpadded_tokens_are_counted():
    model = _moe()
    load = ExpertLoad(model)
    ids = torch.randint(0, 64, (2, 6))
    mask = torch.tensor([[1] * 6, [0, 0, 1, 1, 1, 1]])  # 10 real tokens, 2 of padding
    with torch.no_grad():
        model(ids, attention_mask=mask)  # like generation or evaluation: not training
    assert load.flush() == {}
    model(ids, attention_mask=mask)
    totals = load.totals()
    assert totals["routed_tokens"] == 10 and len(totals["expert_load"]) == LAYERS
    assert all(len(layer) == EXPERTS and sum(layer) == pytest.approx(1.0) for layer in totals["expert_load"])
    interval = load.flush()
    assert {"moe/max_load_violation", "moe/router_entropy", "moe/layer1/router_entropy"} <= set(interval)
    assert load.flush() == {}  # a fresh interval; the stage totals keep counting
    model(ids)
    assert load.totals()["routed_tokens"] == 22
    load.close()
    model(ids)
    assert load.totals()["routed_tokens"] == 22


def test_a_router_that_cannot_decide_has_the_maximal_entropy_and_a_known_imbalance():
    model = _moe()
    with torch.no_grad():
        for router in routers(model):
            router.weight.zero_()  # equal logits: top-k of a tie picks the same k experts for every token
    load = ExpertLoad(model)
    model(torch.randint(0, 64, (1, 8)))
    totals = load.totals()
    assert totals["router_entropy"] == pytest.approx(math.log(EXPERTS)) == pytest.approx(totals["max_router_entropy"])
    assert sorted(totals["expert_load"][0]) == [0.0, 0.0, 0.5, 0.5]
    assert totals["max_load_violation"] == pytest.approx(1.0)  # (max - mean) / mean = (8 - 4) / 4


def test_the_sft_stage_logs_expert_load_and_summarizes_it(tmp_path, initialized_run):
    overrides = [
        "logger=none",
        "model.tiny_moe.tokenizer_corpus_size=200",
        "sft.max_steps=2",
        "sft.batch_size=4",
        "sft.logging_steps=1",
        "sft.save_steps=2",
        "data.reasoning.sft_size=16",
        "data.tool_calling.sft_size=0",
        "data.safety.sft_size=0",
    ]
    _, run = initialized_run(tmp_path, overrides)
    result = sft.run(compose([f"run_dir={tmp_path}", *overrides]), run)
    routing = result.metrics["moe"]
    assert len(routing["expert_load"]) == compose([]).model.tiny_moe.num_hidden_layers
    assert routing["routed_tokens"] > 0 and 0 < routing["router_entropy"] <= routing["max_router_entropy"]
    state = json.loads((tmp_path / "sft" / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [line for line in state["log_history"] if "loss" in line]
    assert len(logged) == 2 and all(
        "moe/max_load_violation" in line and "moe/layer0/router_entropy" in line for line in logged
    )
