"""The embedded default policy: a tiny Qwen3-MoE built from ``conf/model/tiny_moe.yaml``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase, Qwen3MoeConfig, Qwen3MoeForCausalLM


@dataclass
class TinyMoEConfig:
    """Architecture of the tiny MoE. Every field maps to a ``Qwen3MoeConfig`` argument."""

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


def build_tiny_moe(cfg: TinyMoEConfig, tokenizer: PreTrainedTokenizerBase, seed: int) -> Qwen3MoeForCausalLM:
    """A freshly initialised tiny MoE whose vocabulary matches ``tokenizer``, reproducible from ``seed``."""
    config = Qwen3MoeConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.moe_intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        head_dim=cfg.head_dim,
        num_experts=cfg.num_experts,
        num_experts_per_tok=cfg.num_experts_per_tok,
        moe_intermediate_size=cfg.moe_intermediate_size,
        norm_topk_prob=True,
        max_position_embeddings=cfg.max_position_embeddings,
        # Training asks for router logits per forward (TRL does); generation with them on fails in transformers.
        output_router_logits=False,
        router_aux_loss_coef=cfg.router_aux_loss_coef,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen3MoeForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
