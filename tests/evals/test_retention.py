import math

import pytest
import torch

from rlreason.evals import retention
from rlreason.evals.retention import GENERAL, RetentionConfig, add_changes, load_texts
from rlreason.rollout.generation import HFGenerator, VLLMGenerator


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, initialized_run):
    run_dir = tmp_path_factory.mktemp("init")
    initialized_run(run_dir, ["logger=none", "model.tiny_moe.tokenizer_corpus_size=200"])
    return str(run_dir / "init" / "model")


def test_the_shipped_general_texts_load_and_a_limit_keeps_the_first():
    texts = load_texts(RetentionConfig(texts=GENERAL))
    assert len(texts) == 40 and all(len(t.split()) >= 8 for t in texts)
    assert load_texts(RetentionConfig(texts=GENERAL, limit=3)) == texts[:3]


def test_nll_is_the_teacher_forced_loss_of_each_text(checkpoint):
    generator = HFGenerator("cpu", batch_size=8)
    generator.load(checkpoint)
    texts = load_texts(RetentionConfig(texts=GENERAL, limit=4))
    result = retention.evaluate(generator, texts, RetentionConfig(max_length=32))
    for text, nll in zip(texts, result.per_example["nll"]):  # the model's own loss on the text is the same number
        ids = torch.tensor([generator.tokenizer(text)["input_ids"][:32]])
        with torch.no_grad():
            assert nll == pytest.approx(generator.model(ids, labels=ids).loss.item(), rel=1e-5)
    assert result.metrics["perplexity"] == pytest.approx(math.exp(result.metrics["nll"]))
    assert result.metrics["num_texts"] == 4 and result.metrics["num_tokens"] == sum(
        r["num_tokens"] for r in result.records
    )


def test_vllm_prompt_logprobs_match_hf(checkpoint):
    pytest.importorskip("vllm")
    from omegaconf import OmegaConf

    from rlreason.rollout.config import RolloutConfig

    texts = load_texts(RetentionConfig(texts=GENERAL, limit=6))
    hf = HFGenerator("cpu", batch_size=8)
    hf.load(checkpoint)
    vllm = VLLMGenerator("cpu", seed=0, rollout=OmegaConf.structured(RolloutConfig))
    vllm.load(checkpoint)
    try:
        expected, got = hf.text_logprobs(texts, max_length=48), vllm.text_logprobs(texts, max_length=48)
    finally:
        vllm.close()
    assert [len(x) for x in got] == [len(x) for x in expected]
    assert max(abs(a - b) for x, y in zip(got, expected) for a, b in zip(x, y)) < 1e-3


def test_changes_are_against_the_first_checkpoint_scored():
    evals = {
        "init": {"retention": {"nll": 2.0}},
        "sft": {"retention": {"nll": 2.5}, "reasoning": {}},
        "grpo": {"retention": {"nll": 2.25}},
    }
    add_changes(evals)
    assert "nll_change" not in evals["init"]["retention"]
    assert (evals["sft"]["retention"]["nll_change"], evals["grpo"]["retention"]["nll_change"]) == (0.5, 0.25)


def test_a_text_too_short_to_score_is_named(checkpoint):
    generator = HFGenerator("cpu", batch_size=8)
    generator.load(checkpoint)
    with pytest.raises(ValueError, match="text 1 has 1 token"):
        generator.text_logprobs(["a longer sentence here", "a"], max_length=32)
