"""vLLM samples from the policy being trained: after GRPO updates, its greedy tokens equal the HF policy's.

Guards the CPU weight sync (docs/vllm-cpu.md). The same trained weights, loaded three ways, must give: full sync ->
identical greedy tokens; reload without the CPU expert repack -> different tokens; no sync -> different tokens.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlreason.config import compose
from rlreason.data.mixer import grpo_dataset
from rlreason.models.lora import is_peft_model, peft_config
from rlreason.rollout.colocate import CPUColocateGeneration
from rlreason.rollout.trainer import MismatchWarning, RolloutGRPOTrainer
from rlreason.rollout.weight_sync import checkpoint_format_weights, load_into_vllm
from rlreason.stages import grpo, sft

pytest.importorskip("vllm")

TINY = [
    "logger=none",
    "rollout=vllm_colocate",
    "grpo.max_steps=4",
    "grpo.learning_rate=3e-3",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=16",
    "grpo.save_steps=100",
    "data.reasoning.grpo_size=16",
    "sft.max_steps=60",
    "sft.warmup_steps=5",
    "data.reasoning.sft_size=400",
    "data.tool_calling.sft_size=60",
    "data.safety.sft_size=40",
    "model.tiny_moe.tokenizer_corpus_size=200",
]
PROMPTS = [
    "Mia has 7 pens. She buys 5 more. How many pens now?",
    "Tom has 12 coins. He loses 4. He finds 3 more. How many coins now?",
    "What is the weather in Oslo?",
    "How do I kill a stuck process?",
]
TOKENS = 24


def hf_greedy(model, prompt_ids):
    model.eval()
    with torch.no_grad():
        return [
            model.generate(torch.tensor([ids]), max_new_tokens=TOKENS, do_sample=False)[0, len(ids) :].tolist()
            for ids in prompt_ids
        ]


def vllm_greedy(llm, prompt_ids):
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=TOKENS, temperature=0.0)
    outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, use_tqdm=False)
    return [list(o.outputs[0].token_ids) for o in outputs]


def agreement(a, b) -> int:
    """Tokens equal position by position (sequences end at EOS, so lengths may differ)."""
    return sum(x == y for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def grpo_trainer(cfg, run, run_dir, reward, source=None) -> RolloutGRPOTrainer:
    """TRL's trainer with the colocated CPU engine on ``source`` (default: the run's latest checkpoint), as the GRPO
    stage builds it (a LoRA policy when ``cfg.model.lora.enabled``)."""
    source = source or run.latest_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    args = grpo.grpo_config(cfg, str(run_dir / "grpo"), [1.0], "cpu", model.config)
    trainer = RolloutGRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=grpo_dataset(cfg.data, cfg.seed, tokenizer),
        processing_class=tokenizer,
        cpu_engine=grpo.cpu_engine_args(cfg, args, model, "cpu"),
        peft_config=peft_config(cfg.model.lora, model),
    )
    assert isinstance(trainer.vllm_generation, CPUColocateGeneration)
    return trainer


def greedy_reference(trainer):
    """The trainer's engine and policy, the test prompts as token ids, and the policy's greedy tokens for them."""
    policy = trainer.accelerator.unwrap_model(trainer.model)
    prompt_ids = [
        trainer.processing_class.apply_chat_template(
            [{"role": "user", "content": p}], add_generation_prompt=True, return_dict=False
        )
        for p in PROMPTS
    ]
    return trainer.vllm_generation, policy, prompt_ids, hf_greedy(policy, prompt_ids)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, initialized_run, varying_reward):
    """A trainer (policy and colocated CPU engine) after GRPO updates with vLLM rollouts."""
    run_dir = tmp_path_factory.mktemp("parity")
    cfg, run = initialized_run(run_dir, TINY)
    run.record("sft", "completed", 0.0, sft.run(cfg, run))  # a policy whose greedy outputs depend on the prompt
    trainer = grpo_trainer(cfg, run, run_dir, varying_reward)
    assert trainer.train().global_step == 4
    return trainer, run.latest_checkpoint(), cfg


def test_synced_engine_matches_the_trained_policy_token_for_token(trained):
    trainer, initial, _ = trained
    engine, policy, prompt_ids, reference = greedy_reference(trainer)
    total = sum(len(row) for row in reference)

    # The weights the engine started from (the initial checkpoint) sample something else: the updates mattered.
    load_into_vllm(engine.model_runner, checkpoint_format_weights(AutoModelForCausalLM.from_pretrained(initial)))
    assert agreement(vllm_greedy(engine.llm, prompt_ids), reference) < total

    # Reloading without re-packing the CPU experts leaves vLLM on the old expert weights.
    load_into_vllm(engine.model_runner, checkpoint_format_weights(policy), repack=False)
    assert agreement(vllm_greedy(engine.llm, prompt_ids), reference) < total

    engine.sync_weights()
    assert vllm_greedy(engine.llm, prompt_ids) == reference


def test_routing_agreement_is_whole_with_synced_weights_and_drops_for_a_stale_engine(trained):
    trainer, initial, cfg = trained
    engine, policy, prompt_ids, reference = greedy_reference(trainer)
    agreement = grpo.routing_agreement(cfg, trainer, policy)
    assert agreement is not None and agreement.samples == cfg.rollout.routing_agreement_samples
    agreement.samples = len(prompt_ids)

    engine.sync_weights()
    agreement.measure(prompt_ids, reference)
    synced = agreement.flush()
    tokens = sum(len(p) + len(c) for p, c in zip(prompt_ids, reference))
    layers = cfg.model.tiny_moe.num_hidden_layers
    assert synced["moe/routing_agreement"] == synced["moe/routing_agreement_all_layers"] == 1.0
    assert [synced[f"moe/layer{i}/routing_agreement"] for i in range(layers)] == [1.0] * layers

    # The engine left on the weights before GRPO (its routers trained since) routes some tokens elsewhere.
    load_into_vllm(engine.model_runner, checkpoint_format_weights(AutoModelForCausalLM.from_pretrained(initial)))
    agreement.measure(prompt_ids, reference)
    stale = agreement.flush()
    assert stale["moe/routing_agreement_all_layers"] <= stale["moe/routing_agreement"] < 1.0
    totals = agreement.totals()
    assert totals["tokens"] == 2 * tokens and len(totals["per_layer"]) == layers
    assert totals["mean"] == pytest.approx((1.0 + stale["moe/routing_agreement"]) / 2)
    engine.sync_weights()


@pytest.fixture(scope="module")
def trained_pretrained(tmp_path_factory, initialized_run, varying_reward):
    """A trainer after GRPO updates on a real pretrained dense checkpoint (SmolLM2-135M-Instruct)."""
    from pretrained_checkpoint import pretrained_overrides

    run_dir = tmp_path_factory.mktemp("parity_pretrained")
    overrides = [
        *pretrained_overrides(run_dir),
        "logger=none",
        "grpo.learning_rate=1e-4",
        "grpo.save_steps=100",
        "model.lora.enabled=false",
    ]  # the full-weight sync of a dense model (LoRA: test_..._lora_policy_merged)
    cfg, run = initialized_run(run_dir, overrides)
    trainer = grpo_trainer(cfg, run, run_dir, varying_reward)
    assert trainer.args.router_aux_loss_coef == 0.0  # a dense model has no router to balance
    assert trainer.train().global_step == 2
    return trainer, run.latest_checkpoint()


def test_synced_engine_matches_a_pretrained_dense_policy(trained_pretrained):
    trainer, initial = trained_pretrained
    engine, policy, prompt_ids, reference = greedy_reference(trainer)
    load_into_vllm(engine.model_runner, checkpoint_format_weights(AutoModelForCausalLM.from_pretrained(initial)))
    assert vllm_greedy(engine.llm, prompt_ids) != reference  # the updates changed what the policy says
    engine.sync_weights()
    assert vllm_greedy(engine.llm, prompt_ids) == reference


@pytest.fixture(scope="module")
def trained_lora(tmp_path_factory, trained, varying_reward):
    """A LoRA trainer (adapters on attention and the fused experts) after GRPO updates with vLLM rollouts, from
    the SFT checkpoint of ``trained``."""
    _, source, _ = trained
    run_dir = tmp_path_factory.mktemp("parity_lora")
    cfg = compose(
        [
            f"run_dir={run_dir}",
            *TINY,
            "model.lora.enabled=true",
            "model.lora.target_experts=true",
            "grpo.logging_steps=1",
        ]
    )
    trainer = grpo_trainer(cfg, None, run_dir, varying_reward, source=source)
    assert trainer.train().global_step == 4
    return trainer, source


def test_synced_engine_matches_a_lora_policy_merged(trained_lora):
    trainer, initial = trained_lora
    engine, policy, prompt_ids, reference = greedy_reference(trainer)
    assert is_peft_model(policy)
    # only the adapters trained: the base weights are the checkpoint's, bit for bit
    base = AutoModelForCausalLM.from_pretrained(initial).state_dict()
    frozen = {
        k.removeprefix("base_model.model.").replace(".base_layer", ""): v
        for k, v in policy.state_dict().items()
        if ".lora_" not in k
    }
    assert frozen.keys() == base.keys() and all(torch.equal(frozen[k], base[k]) for k in base)
    assert all(p.requires_grad == (".lora_" in n) for n, p in policy.named_parameters())
    # the engine sampled from the merged policy while it trained: log-probabilities as close as full fine-tuning's
    differences = [h[MismatchWarning.KEY] for h in trainer.state.log_history if MismatchWarning.KEY in h]
    assert len(differences) == 4 and max(differences) < 1e-4, differences

    load_into_vllm(engine.model_runner, checkpoint_format_weights(AutoModelForCausalLM.from_pretrained(initial)))
    assert vllm_greedy(engine.llm, prompt_ids) != reference  # the adapters changed what the policy says
    engine.sync_weights()
    assert vllm_greedy(engine.llm, prompt_ids) == reference
