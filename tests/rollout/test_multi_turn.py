"""Multi-turn tool rollouts in GRPO: a policy taught to call tools gets their results as tool turns in token
space and replies again; the tool tokens are masked out of the loss, carry no engine logprob, and the reward
sees the episode and its failed calls. On vLLM colocated on CPU and on Hugging Face generate."""

import pytest
from rlreason.reward import tool_use
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlreason.config import compose
from rlreason.data.mixer import grpo_dataset
from rlreason.errors import UserError
from rlreason.rollout.multi_turn import ToolRollout, tool_rollout
from rlreason.rollout.trainer import RolloutGRPOTrainer
from rlreason.stages import grpo, sft

TOOL_POLICY = [
    "logger=none",
    "rollout.max_turns=3",
    "grpo.max_steps=1",
    "grpo.prompts_per_step=4",
    "grpo.num_generations=4",
    "grpo.max_completion_length=160",
    "grpo.save_steps=100",
    "grpo.logging_steps=1",
    "sft.max_steps=150",
    "data.reasoning.sft_size=50",
    "data.reasoning.grpo_size=0",
    "data.tool_calling.sft_size=0",
    "data.safety.sft_size=0",
    "data.tool_use.sft_size=600",
    "data.tool_use.grpo_size=16",
    "data.tool_use.skip_rate=0",  # a teacher that always calls: every demonstration shows the tools at work
    "model.tiny_moe.tokenizer_corpus_size=200",
]


@pytest.fixture(scope="module")
def tool_policy(tmp_path_factory, initialized_run):
    """A run whose SFT stage taught the tiny MoE tool-use episodes (150 steps: it calls tools, not always right)."""
    cfg, run = initialized_run(tmp_path_factory.mktemp("tool_policy"), TOOL_POLICY)
    run.record("sft", "completed", 0.0, sft.run(cfg, run))
    return run


@pytest.mark.parametrize("engine", ["vllm_colocate", "hf"])
def test_tool_results_come_back_as_masked_tool_turns_and_the_episode_goes_on(tool_policy, tmp_path, engine):
    if engine == "vllm_colocate":
        pytest.importorskip("vllm")
    cfg = compose([f"run_dir={tool_policy.dir}", *TOOL_POLICY, f"rollout={engine}"])
    source = tool_policy.latest_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source)
    args = grpo.grpo_config(cfg, str(tmp_path / "grpo"), [1.0], "cpu", model.config)
    rollout, rewarded = tool_rollout(cfg), []

    def recorded_tool_use(**kwargs):
        rewarded.append(kwargs)
        return tool_use(**kwargs)

    trainer = RolloutGRPOTrainer(
        model=model,
        reward_funcs=[recorded_tool_use],
        args=args,
        processing_class=tokenizer,
        train_dataset=grpo_dataset(cfg.data, cfg.seed, tokenizer),
        cpu_engine=grpo.cpu_engine_args(cfg, args, model, "cpu"),
        rollout_func=rollout,
    )
    assert trainer.use_vllm is (engine == "vllm_colocate")
    batches = []
    generate = trainer._generate_and_score_completions
    trainer._generate_and_score_completions = lambda inputs: batches.append(generate(inputs)) or batches[-1]
    trainer.train()
    rollout.close()

    (batch,) = batches
    (entry,) = [h for h in trainer.state.log_history if "loss" in h]
    assert entry["tools/turns"] > 1 and entry["tools/call_frequency"] > 0
    mask, completion_mask = batch["tool_mask"], batch["completion_mask"]
    episodes = [i for i in range(len(mask)) if (mask[i][completion_mask[i].bool()] == 0).any()]
    assert episodes, "no episode had a tool turn"
    for i in episodes:
        ids = batch["completion_ids"][i][completion_mask[i].bool()]
        own = mask[i][completion_mask[i].bool()].bool()
        tool_text = tokenizer.decode(ids[~own])
        assert tool_text.startswith("\n<|im_start|>tool\n") and tool_text.endswith("<|im_start|>assistant\n")
        assert "<tool_call>" in tokenizer.decode(ids[own]) and "<tool_call>" not in tool_text
        if trainer.use_vllm:  # the engine's logprobs: 0 on tool tokens, real ones on the policy's
            logps = batch["sampling_per_token_logps"][i][completion_mask[i].bool()]
            assert (logps[~own] == 0).all() and (logps[own] < 0).any()
    # TRL trains on the policy's own tokens only: completion_mask * tool_mask
    assert batch["num_items_in_batch"] == (completion_mask * mask).sum()
    (kwargs,) = rewarded
    assert len(kwargs["tool_failures"]) == 16 and max(kwargs["turns"]) > 1
    assert [t > 1 for t in kwargs["turns"]] == [c > 0 for c in kwargs["tool_calls"]]


def test_the_grpo_stage_samples_episodes_and_reports_how_tools_were_used(tool_policy):
    cfg = compose([f"run_dir={tool_policy.dir}", *TOOL_POLICY, "rollout=hf", "reward=tools"])
    metrics = grpo.run(cfg, tool_policy).metrics
    assert metrics["tools"]["turns"] > 1 and metrics["tools"]["call_frequency"] > 0
    assert 0 <= metrics["tools"]["failure_frequency"] <= 1
    assert metrics["rewards"]["tool_use"]["samples"] == 16


def test_single_turn_needs_no_rollout_and_collective_engines_are_refused(tmp_path):
    assert tool_rollout(compose([f"run_dir={tmp_path}"])) is None
    assert isinstance(tool_rollout(compose([f"run_dir={tmp_path}", "rollout.max_turns=2"])), ToolRollout)
    several = [f"run_dir={tmp_path}", "rollout.max_turns=2", "distributed.num_processes=2"]
    with pytest.raises(UserError, match="rollout=vllm_server on several processes is not supported"):
        tool_rollout(compose([*several, "distributed=zero2", "rollout=vllm_server"]))
    with pytest.raises(UserError, match="rollout=hf under distributed=zero3 on several processes"):
        tool_rollout(compose([*several, "distributed=zero3", "rollout=hf"]))
    with pytest.raises(Exception, match="rollout.max_turns: got 0; must be >= 1"):
        compose([f"run_dir={tmp_path}", "rollout.max_turns=0"])
