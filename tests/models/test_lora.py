"""LoRA settings become PEFT configs, and the merged weights vLLM samples from equal PEFT's own merge."""

import copy

import pytest
import torch
from peft import get_peft_model

from rlreason.models.lora import LoraSettings, expert_parameters, merged_state_dict, peft_config
from rlreason.models.tiny_moe import TinyMoEConfig, build_tiny_moe
from rlreason.models.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def tiny_moe():
    tokenizer = train_tokenizer([f"Mia has {n} pens. <think>{n}+1</think>" for n in range(60)], vocab_size=300)
    return build_tiny_moe(TinyMoEConfig(), tokenizer, seed=0)


def test_off_by_default_and_bad_settings_are_named():
    assert peft_config(LoraSettings(), None) is None
    with pytest.raises(ValueError, match="model.lora.r"):
        LoraSettings(r=0)
    with pytest.raises(ValueError, match="model.lora.dropout"):
        LoraSettings(dropout=1.0)
    with pytest.raises(ValueError, match="nothing to adapt"):
        LoraSettings(target_modules=[])


def test_targets_attention_by_default_and_the_fused_experts_on_request(tiny_moe):
    assert expert_parameters(tiny_moe) == ["mlp.experts.down_proj", "mlp.experts.gate_up_proj"]
    # from a config (the causal LM built on the meta device), as the reward-model stage asks
    assert peft_config(LoraSettings(enabled=True), tiny_moe.config).target_modules == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
    }
    default = get_peft_model(copy.deepcopy(tiny_moe), peft_config(LoraSettings(enabled=True), tiny_moe))
    trained = {n for n, p in default.named_parameters() if p.requires_grad}
    assert trained and all(".lora_" in n and "self_attn" in n for n in trained)  # no router, no expert
    experts = get_peft_model(
        copy.deepcopy(tiny_moe), peft_config(LoraSettings(enabled=True, target_experts=True), tiny_moe)
    )
    assert any("experts" in n for n, p in experts.named_parameters() if p.requires_grad)


@pytest.mark.parametrize("target_experts", [False, True])
def test_merged_weights_equal_peft_merge_and_leave_the_model_untouched(tiny_moe, target_experts):
    settings = LoraSettings(enabled=True, r=4, alpha=8, target_experts=target_experts)
    model = get_peft_model(copy.deepcopy(tiny_moe), peft_config(settings, tiny_moe))
    torch.manual_seed(0)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero: give the adapter something to merge
            parameter.data.normal_(0, 0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    merged = merged_state_dict(model)

    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing merged in place
    reference = copy.deepcopy(model).merge_and_unload().state_dict()
    assert merged.keys() == reference.keys()
    assert all(torch.allclose(merged[k], reference[k], atol=1e-6) for k in reference)
    changed = [k for k in reference if not torch.equal(reference[k], tiny_moe.state_dict()[k])]
    assert any("self_attn" in k for k in changed) and any("experts" in k for k in changed) == target_experts
