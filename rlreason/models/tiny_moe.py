"""The embedded default policy: a tiny MoE built from ``conf/model/tiny_moe.yaml`` (``model.tiny_moe.*``).

``model.tiny_moe.family`` picks the architecture, each with the same width, depth and expert counts:
``qwen3_moe`` (default: grouped-query attention, 8 experts, 2 routed per token), ``mixtral``, ``olmoe``
(full multi-head attention) and ``deepseek_v3`` (multi-head latent attention, a shared expert beside the
routed ones, sigmoid routing with a correction bias). They exercise what differs between MoE families:
config classes, router and expert layouts, attention kernels, vLLM support (vLLM's CPU build serves latent
attention in half precision only, so the fp32 ``deepseek_v3`` samples with Hugging Face generate on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and transformers load when a model is built, not with the config schema
    from transformers import PreTrainedTokenizerBase


class TinyMoEFamily(str, Enum):
    qwen3_moe = "qwen3_moe"
    mixtral = "mixtral"
    olmoe = "olmoe"
    deepseek_v3 = "deepseek_v3"


@dataclass
class TinyMoEConfig:
    """Architecture of the tiny MoE; each field maps to the family's config argument of that meaning."""

    family: TinyMoEFamily = TinyMoEFamily.qwen3_moe
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    num_experts: int = 8
    num_experts_per_tok: int = 2
    moe_intermediate_size: int = 256
    max_position_embeddings: int = 512
    router_aux_loss_coef: float = 0.001
    tokenizer_vocab_size: int = 512
    tokenizer_corpus_size: int = 4000


def _family_config(cfg: TinyMoEConfig) -> tuple[str, dict]:
    """The family's config class and the arguments whose names differ between families."""
    family = TinyMoEFamily(cfg.family)
    if family is TinyMoEFamily.qwen3_moe:
        return "Qwen3MoeConfig", {
            "head_dim": cfg.head_dim,
            "num_experts": cfg.num_experts,
            "norm_topk_prob": True,
            "moe_intermediate_size": cfg.moe_intermediate_size,
        }
    if family is TinyMoEFamily.mixtral:
        return "MixtralConfig", {"head_dim": cfg.head_dim, "num_local_experts": cfg.num_experts}
    if family is TinyMoEFamily.olmoe:
        return "OlmoeConfig", {"num_experts": cfg.num_experts, "norm_topk_prob": True}
    # DeepSeek-V3's layout, small: queries without a low-rank projection, a latent of kv_lora_rank per token
    # (plus its rotary part) instead of per-head keys and values, every layer sparse, one shared expert.
    return "DeepseekV3Config", {
        "n_routed_experts": cfg.num_experts,
        "n_shared_experts": 1,
        "moe_intermediate_size": cfg.moe_intermediate_size,
        "first_k_dense_replace": 0,
        "n_group": 1,
        "topk_group": 1,
        "norm_topk_prob": True,
        "q_lora_rank": None,
        "kv_lora_rank": 2 * cfg.head_dim,
        "qk_rope_head_dim": cfg.head_dim // 2,
        "qk_nope_head_dim": cfg.head_dim,
        "v_head_dim": cfg.head_dim,
        "num_key_value_heads": cfg.num_attention_heads,
    }


def build_tiny_moe(cfg: TinyMoEConfig, tokenizer: PreTrainedTokenizerBase, seed: int):
    """A freshly initialised tiny MoE of ``cfg.family`` whose vocabulary matches ``tokenizer``, reproducible
    from ``seed``."""
    import torch
    import transformers

    class_name, family_args = _family_config(cfg)
    config = getattr(transformers, class_name)(
        **{
            "vocab_size": len(tokenizer),
            "hidden_size": cfg.hidden_size,
            # each expert's width (and a dense layer's, where one exists)
            "intermediate_size": cfg.moe_intermediate_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "num_experts_per_tok": cfg.num_experts_per_tok,
            "max_position_embeddings": cfg.max_position_embeddings,
            # Training asks for router logits per forward (TRL does); generation with them on fails in transformers.
            "output_router_logits": False,
            "router_aux_loss_coef": cfg.router_aux_loss_coef,
            "tie_word_embeddings": True,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": None,
            "dtype": "float32",
            **family_args,
        }
    )
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
