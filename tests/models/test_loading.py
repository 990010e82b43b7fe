import torch
from transformers import Trainer

from rlreason.models.loading import ResumeConvertedWeights
from rlreason.models.tiny_moe import TinyMoEConfig, build_tiny_moe
from rlreason.models.tokenizer import train_tokenizer

TOKENIZER = train_tokenizer(["user\nassistant\n", "Mia has 7 pens. <think>7+5=12</think><answer>12</answer>"] * 20, 300)


class _Trainer(ResumeConvertedWeights, Trainer):
    pass


def test_resuming_an_moe_restores_its_trained_experts(tmp_path):
    """A trainer checkpoint holds the experts one tensor per expert; the policy holds them fused. Plain
    ``Trainer`` resume skips them without an error, so the experts' training before the stop would be lost."""
    trained = build_tiny_moe(TinyMoEConfig(), TOKENIZER, seed=0)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.01)  # what some training steps did
    trained.save_pretrained(tmp_path)  # what Trainer writes into checkpoint-N/
    policy = build_tiny_moe(TinyMoEConfig(), TOKENIZER, seed=0)  # the stage's starting point

    Trainer._load_from_checkpoint(_bare(Trainer, policy), str(tmp_path))
    experts = [name for name in policy.state_dict() if "experts" in name]
    assert experts and not all(torch.equal(policy.state_dict()[n], trained.state_dict()[n]) for n in experts)  # the bug
    # (when the line above fails, transformers resumes MoE checkpoints itself: ResumeConvertedWeights can go)

    policy = build_tiny_moe(TinyMoEConfig(), TOKENIZER, seed=0)
    _Trainer._load_from_checkpoint(_bare(_Trainer, policy), str(tmp_path))
    assert all(torch.equal(value, trained.state_dict()[name]) for name, value in policy.state_dict().items())


def _bare(cls, model):
    """A trainer object with only what ``_load_from_checkpoint`` reads (building a real one needs data)."""
    trainer = cls.__new__(cls)
    trainer.model = model
    trainer.is_fsdp_enabled = False
    return trainer
