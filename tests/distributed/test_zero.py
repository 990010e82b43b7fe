"""Training stages on 2 CPU processes under DeepSpeed ZeRO-2 and ZeRO-3 (gloo), through the ``rlreason``
command: the same losses as one process with the same global batch, GRPO with vLLM rollouts synced from
ZeRO-3 shards, a gathered checkpoint that vLLM loads, and a stop signal that the re-run resumes from."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

pytestmark = pytest.mark.integration

TINY = [
    "logger=none",
    "model.tiny_moe.tokenizer_corpus_size=200",
    "sft.max_steps=4",
    "sft.batch_size=8",
    "sft.logging_steps=1",
    "sft.save_steps=4",
    "data.reasoning.sft_size=64",
    "data.tool_calling.sft_size=16",
    "data.safety.sft_size=16",
    "grpo.prompts_per_step=2",
    "grpo.num_generations=4",
    "grpo.max_completion_length=16",
    "grpo.logging_steps=1",
    "data.reasoning.grpo_size=32",
]
TWO = ["distributed.num_processes=2"]
VARYING = Path(__file__).parents[1] / "varying_reward.py"
# A reward model trained on the initial weights, then GRPO from them (bit-identical in every run) with a reward
# that varies in every group, each completion seeded by its place in the global batch, the per-micro-batch
# load-balancing loss off
GRPO = [
    "pipeline.stages=[init,reward_model,grpo]",
    "reward_model.pairs_per_task=24",
    "reward_model.test_pairs_per_task=16",
    "reward_model.num_train_epochs=1",
    "reward_model.batch_size=8",
    "reward_model.logging_steps=1",
    "grpo.max_steps=3",
    "grpo.save_steps=3",
    "grpo.learning_rate=3e-3",
    "grpo.warmup_steps=0",
    "grpo.router_aux_loss_coef=0",
    "rollout.seed_per_request=true",
    f"reward.functions=[{{fn: '{VARYING}:length_parity'}}]",
]


def rlreason(run_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rlreason", f"run_dir={run_dir}", *TINY, *overrides],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )


def finish(process: subprocess.Popen, timeout: float = 900) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


def completed(run_dir: Path, *overrides: str) -> dict:
    process = rlreason(run_dir, *overrides)
    output = finish(process)
    assert process.returncode == 0, output[-5000:]
    return json.loads((run_dir / "summary.json").read_text())


def logged(run_dir: Path, stage: str, step: int, key: str) -> list[float]:
    state = json.loads((run_dir / stage / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").read_text())
    return [line[key] for line in state["log_history"] if key in line]


def sft_losses(run_dir: Path) -> list[float]:
    return logged(run_dir, "sft", 4, "loss")


def max_weight_difference(model: Path, other: Path) -> float:
    from transformers import AutoModelForCausalLM

    ours = AutoModelForCausalLM.from_pretrained(model).state_dict()
    theirs = AutoModelForCausalLM.from_pretrained(other).state_dict()
    assert ours.keys() == theirs.keys()
    return max((ours[k] - theirs[k]).abs().max().item() for k in ours)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("single")
    completed(run_dir, "pipeline.stages=[init,sft]")
    return run_dir


@pytest.mark.parametrize("strategy", ["zero2", "zero3"])
def test_sft_on_two_processes_matches_one_process_with_the_same_global_batch(single, tmp_path, strategy):
    summary = completed(tmp_path, "pipeline.stages=[init,sft]", f"distributed={strategy}", *TWO)
    assert sft_losses(tmp_path) == pytest.approx(sft_losses(single), rel=1e-4)
    written = json.loads((tmp_path / "sft" / "distributed" / "deepspeed.json").read_text())
    assert written["zero_optimization"]["stage"] == {"zero2": 2, "zero3": 3}[strategy]
    assert "--nproc_per_node=2" in (tmp_path / "sft" / "distributed" / "launch.sh").read_text()
    # every process routed its half of the batch; the summary adds them up to the single process's count
    one = json.loads((single / "summary.json").read_text())["stages"]["sft"]["metrics"]["moe"]
    assert summary["stages"]["sft"]["metrics"]["moe"]["routed_tokens"] == one["routed_tokens"]
    # the saved folder is an ordinary checkpoint with the weights a single process trains
    assert max_weight_difference(tmp_path / "sft" / "model", single / "sft" / "model") < 1e-4


@pytest.fixture(scope="module")
def grpo_single(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("grpo_single")
    completed(run_dir, *GRPO)
    return run_dir


@pytest.mark.parametrize("strategy", ["zero2", "zero3"])
def test_reward_model_and_grpo_on_two_processes_train_as_one_process(grpo_single, tmp_path, strategy):
    """The reward model: each process trains on half of every batch of pairs, as TRL's RewardTrainer splits it.
    GRPO: each process samples its half of every step's prompts with its own vLLM engine; seeded per completion,
    the halves are the single process's completions, so rewards match exactly and losses and weights closely."""
    pytest.importorskip("vllm")
    summary = completed(tmp_path, *GRPO, f"distributed={strategy}", *TWO)
    ours = summary["stages"]["reward_model"]["metrics"]
    theirs = json.loads((grpo_single / "summary.json").read_text())["stages"]["reward_model"]["metrics"]
    assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
    assert (ours["steps"], ours["accuracy"], ours["accuracy_per_task"]) == (
        theirs["steps"],
        theirs["accuracy"],
        theirs["accuracy_per_task"],
    )
    assert ours["margin"] == pytest.approx(theirs["margin"], rel=1e-4) and len(ours["peak_memory_mib"]) == 2
    assert logged(tmp_path, "grpo", 3, "reward") == logged(grpo_single, "grpo", 3, "reward")
    assert logged(tmp_path, "grpo", 3, "completions/mean_length") == logged(
        grpo_single, "grpo", 3, "completions/mean_length"
    )
    losses = logged(grpo_single, "grpo", 3, "loss")
    assert logged(tmp_path, "grpo", 3, "loss") == pytest.approx(losses, rel=1e-3, abs=1e-6)
    assert max(abs(loss) for loss in losses) > 1e-3
    # Adam turns the reduction-order noise of near-zero gradients into steps of the full learning rate, so the
    # weights agree to a tenth of how far GRPO moved them (measured: 1.9e-4 of 7.5e-3), not to float precision
    moved = max_weight_difference(grpo_single / "grpo" / "model", grpo_single / "init" / "model")
    assert max_weight_difference(tmp_path / "grpo" / "model", grpo_single / "grpo" / "model") < 0.1 * moved


def test_a_stopped_zero3_grpo_resumes_samples_from_the_synced_policy_and_saves_what_vllm_loads(tmp_path):
    """GRPO with vLLM rollouts on two ZeRO-3 processes, stopped by SIGTERM after a checkpoint and run again: it
    resumes there, vLLM samples from the weights gathered from both shards, and the saved model loads in vLLM."""
    pytest.importorskip("vllm")
    overrides = ["pipeline.stages=[init,grpo]", "distributed=zero3", *TWO, "grpo.max_steps=4", "grpo.save_steps=2"]
    process = rlreason(tmp_path, *overrides)
    checkpoint = tmp_path / "grpo" / "checkpoints" / "checkpoint-2"
    deadline = time.time() + 600
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), finish(process)[-5000:]
    process.send_signal(signal.SIGTERM)  # to the rlreason process only, as a scheduler would
    output = finish(process)
    assert process.returncode == 143, output[-5000:]
    assert "stopping the processes of grpo after their current step" in output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stages"]["grpo"]["status"] == "interrupted"
    assert "grpo stopped by SIGTERM at step" in summary["stages"]["grpo"]["metrics"]["error"]
    saved = max(int(p.name.split("-")[1]) for p in (tmp_path / "grpo" / "checkpoints").glob("checkpoint-*"))
    assert 2 <= saved < 4

    summary = completed(tmp_path, *overrides)
    grpo = summary["stages"]["grpo"]
    assert grpo["status"] == "completed" and grpo["metrics"]["steps"] == 4
    assert grpo["metrics"]["resumed_from"].endswith(f"checkpoint-{saved}")
    assert summary["stages"]["init"]["attempt"] == 1  # not made again
    assert grpo["metrics"]["rollout_engine"] == "vllm"
    assert grpo["metrics"]["max_logp_difference"] < 1e-3  # vLLM sampled from the weights gathered from both shards
    agreement = grpo["metrics"]["moe"]["routing_agreement"]  # each process's engine against the sharded policy
    assert agreement["tokens"] > 0 and agreement["mean"] > 0.99

    from rlreason.rollout.config import RolloutConfig
    from rlreason.rollout.generation import HFGenerator, VLLMGenerator

    prompts = [
        [{"role": "user", "content": f"Mia has {n} pens. Mia buys 2 more. How many pens now?"}] for n in range(3, 9)
    ]
    hf, vllm = (
        HFGenerator("cpu", batch_size=8),
        VLLMGenerator("cpu", seed=0, rollout=OmegaConf.structured(RolloutConfig)),
    )
    model = str(tmp_path / "grpo" / "model")
    hf.load(model)
    vllm.load(model)
    try:
        assert vllm.generate_ids(prompts, max_new_tokens=12)[1] == hf.generate_ids(prompts, max_new_tokens=12)[1]
    finally:
        vllm.close()


def test_zero3_makes_each_sparse_moe_block_one_gathered_unit(monkeypatch):
    from deepspeed.utils import z3_leaf_module
    from transformers import AutoModelForCausalLM, Qwen3MoeConfig

    from rlreason.distributed.zero import moe_block_classes, prepare_model

    config = Qwen3MoeConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=32,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=4,
        num_experts_per_tok=2,
    )
    model = AutoModelForCausalLM.from_config(config)
    assert [c.__name__ for c in moe_block_classes(model)] == ["Qwen3MoeSparseMoeBlock"]
    prepare_model(model, "zero3")  # one process: nothing to do
    assert not any(z3_leaf_module(m) for m in model.modules())
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torch.distributed.run sets for each rank
    prepare_model(model, "zero2")  # ZeRO-2 does not shard parameters
    assert not any(z3_leaf_module(m) for m in model.modules())
    prepare_model(model, "zero3")
    leaves = [m for m in model.modules() if z3_leaf_module(m)]
    assert len(leaves) == 2 and all(type(m).__name__ == "Qwen3MoeSparseMoeBlock" for m in leaves)


@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "no_leaf"])
def test_ranks_routing_to_different_expert_modules_need_the_leaf_setting(leaf):
    """transformers 5 fuses a layer's experts into one tensor, so ranks fetch the same parameters whatever they
    route; a model whose experts are separate modules, run only for the tokens routed to them (transformers 4's
    Mixtral, remote-code checkpoints), has each rank fetch only its own experts' under ZeRO-3. With the leaf
    setting of ``prepare_model`` the step completes on both ranks; without it the ranks' all-gathers disagree
    and the step fails (gloo aborts; a hang would be caught by the timeout)."""
    from rlreason.distributed.launch import free_port

    script = Path(__file__).with_name("per_expert_moe.py")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        str(script),
        "leaf" if leaf else "no-leaf",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "DS_BUILD_OPS": "0"},
    )
    try:
        output = finish(process, timeout=180)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both ranks
        output, returncode = finish(process), None
    if leaf:
        assert returncode == 0 and output.count("step done") == 2, output[-3000:]
    else:
        assert returncode != 0 and "step done" not in output, output[-3000:]


def test_a_latent_attention_moe_with_shared_experts_trains_under_zero3(tmp_path):
    """DeepSeek-V3's layout (multi-head latent attention, a shared expert, sigmoid routing): SFT and GRPO on 2
    ZeRO-3 processes; vLLM's CPU build serves latent attention in half precision only, so GRPO samples with HF
    generate and says why."""
    process = rlreason(
        tmp_path,
        "pipeline.stages=[init,sft,grpo]",
        "model.tiny_moe.family=deepseek_v3",
        "distributed=zero3",
        *TWO,
        "grpo.max_steps=2",
    )
    output = finish(process)
    assert process.returncode == 0, output[-5000:]
    assert "multi-head latent attention runs in bf16/fp16 only on vLLM's CPU build" in output
    summary = json.loads((tmp_path / "summary.json").read_text())
    sft, grpo = summary["stages"]["sft"]["metrics"], summary["stages"]["grpo"]["metrics"]
    assert grpo["rollout_engine"] == "hf" and grpo["steps"] == 2
    assert len(sft["moe"]["expert_load"]) == len(grpo["moe"]["expert_load"]) == 2  # both layers routed
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "grpo" / "model")
    assert type(trained.config).__name__ == "DeepseekV3Config" and trained.config.kv_lora_rank


LORA = ["model.lora.enabled=true", "model.lora.target_experts=true", "sft.learning_rate=3e-3"]


@pytest.fixture(scope="module")
def lora_single(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("lora_single")
    completed(run_dir, "pipeline.stages=[init,sft]", *LORA)
    return run_dir


@pytest.mark.parametrize("strategy", ["zero2", "zero3"])
def test_lora_sft_and_grpo_on_two_processes(lora_single, tmp_path, strategy):
    """LoRA adapters (attention and the fused experts) trained by both processes: SFT as one process trains them,
    GRPO sampling from the merged weights (gathered from the shards under ZeRO-3) with each process's engine."""
    pytest.importorskip("vllm")
    summary = completed(
        tmp_path,
        "pipeline.stages=[init,sft,grpo]",
        "grpo.max_steps=2",
        "grpo.learning_rate=3e-3",
        *LORA,
        f"distributed={strategy}",
        *TWO,
    )
    # LoRA's B starts at 0, so A's first gradients are exactly 0 on one process and reduction-order noise (~1e-12)
    # across the processes' gradient reduction, which Adam turns into steps of the full learning rate: the losses
    # agree to 1e-3, the weights to a tenth of how far SFT moved them, not to float precision
    assert sft_losses(tmp_path) == pytest.approx(sft_losses(lora_single), rel=2e-3)
    moved = max_weight_difference(lora_single / "sft" / "model", lora_single / "init" / "model")
    assert max_weight_difference(tmp_path / "sft" / "model", lora_single / "sft" / "model") < 0.1 * moved
    grpo = summary["stages"]["grpo"]["metrics"]
    assert grpo["steps"] == 2 and grpo["max_logp_difference"] < 1e-4 and 0 < grpo["trainable_share"] < 0.5
    for stage in ("sft", "grpo"):
        assert (tmp_path / stage / "adapter" / "adapter_config.json").exists()
