import pytest
import torch
from transformers import AutoModelForCausalLM

from rlreason.models.loading import is_moe
from rlreason.models.routing import num_experts, routers
from rlreason.models.tiny_moe import TinyMoEConfig, build_tiny_moe
from rlreason.models.tokenizer import train_tokenizer

TOKENIZER = train_tokenizer(["user\nassistant\n", "Mia has 7 pens. <think>7+5=12</think><answer>12</answer>"] * 20, 300)


def test_is_a_seeded_mixture_of_experts():
    cfg = TinyMoEConfig()
    a, b = build_tiny_moe(cfg, TOKENIZER, seed=0), build_tiny_moe(cfg, TOKENIZER, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_tiny_moe(cfg, TOKENIZER, seed=1)
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    assert a.config.num_experts == 8 and a.config.num_experts_per_tok == 2
    assert a.config.vocab_size == len(TOKENIZER)
    assert 1e6 < a.num_parameters() < 3e6


def test_round_trips_through_from_pretrained_and_generates(tmp_path):
    model = build_tiny_moe(TinyMoEConfig(), TOKENIZER, seed=0)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([TOKENIZER("Mia has").input_ids])
    assert torch.allclose(model(ids).logits, loaded(ids).logits)
    out = loaded.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids.shape[1]


@pytest.mark.parametrize(
    "family, config_class, attention",
    [
        ("qwen3_moe", "Qwen3MoeConfig", "gqa"),
        ("mixtral", "MixtralConfig", "gqa"),
        ("olmoe", "OlmoeConfig", "gqa"),
        ("deepseek_v3", "DeepseekV3Config", "mla"),
    ],
)
def test_each_family_is_an_moe_of_the_same_shape_with_its_own_layout(family, config_class, attention):
    cfg = TinyMoEConfig(family=family)
    model = build_tiny_moe(cfg, TOKENIZER, seed=0)
    assert type(model.config).__name__ == config_class and is_moe(model)
    assert len(routers(model)) == cfg.num_hidden_layers and num_experts(model.config) == cfg.num_experts
    assert bool(getattr(model.config, "kv_lora_rank", None)) == (attention == "mla")
    ids = torch.tensor([TOKENIZER("Mia has 7 pens.").input_ids])
    loss = model(ids, labels=ids).loss
    loss.backward()  # every family trains: routers and experts get gradients
    assert all(r.weight.grad is not None for r in routers(model))
