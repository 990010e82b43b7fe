"""The reward_model stage trains a reward model with TRL's RewardTrainer that ranks held-out pairs, GRPO uses
it as ``rm:PATH`` beside the rules (``pipeline=r1_rm``), and a user's preference file trains one too."""

import json

import pytest

from rlreason.config import compose
from rlreason.data.preferences import preference_splits
from rlreason.errors import UserError
from rlreason.rewards import RewardSpec, build_reward
from rlreason.rewards.guard import call
from rlreason.stages import grpo, reward_model
from rlreason.tasks.safety import COMPLIANCE, REFUSAL

TINY = [
    "logger=none",
    "model.tiny_moe.tokenizer_corpus_size=200",
    "reward_model.pairs_per_task=48",
    "reward_model.test_pairs_per_task=40",
    "reward_model.learning_rate=3e-4",
    "reward_model.num_train_epochs=3",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, initialized_run):
    run_dir = tmp_path_factory.mktemp("rm")
    cfg, run = initialized_run(run_dir, ["pipeline=r1_rm", *TINY])
    result = reward_model.run(cfg, run)
    run.record("reward_model", "completed", 0.0, result)
    return cfg, run, result


def test_the_reward_model_ranks_held_out_pairs_and_is_not_a_policy_checkpoint(trained):
    cfg, run, result = trained
    metrics = result.metrics
    assert metrics["test_pairs"] == 40 + 40 + 39  # the safety test split holds 39 distinct requests
    assert metrics["accuracy"] >= 0.6  # chance is 0.5
    assert set(metrics["accuracy_per_task"]) == {"reasoning", "tool_calling", "safety"}
    assert metrics["accuracy_per_task"]["safety"] >= 0.8
    assert result.checkpoint is None and run.latest_checkpoint().endswith("init/model")  # GRPO trains the policy
    assert metrics["model"] == str(run.dir / "reward_model" / "model")


def test_grpo_rewards_tool_and_safety_rows_with_the_model_and_reasoning_with_rules(trained, tmp_path):
    cfg, run, _ = trained
    cfg = compose(
        [
            f"run_dir={run.dir}",
            "pipeline=r1_rm",
            *TINY,
            "rollout=hf",
            "grpo.max_steps=2",
            "grpo.prompts_per_step=4",
            "grpo.num_generations=4",
            "grpo.max_completion_length=16",
            "grpo.logging_steps=1",
            "grpo.save_steps=2",
            "data.reasoning.grpo_size=8",
            "data.tool_calling.grpo_size=8",
            "data.safety.grpo_size=8",
        ]
    )
    assert cfg.reward.functions[2].fn == f"rm:{run.dir}/reward_model/model"  # the stage's output in this run
    result = grpo.run(cfg, run)
    assert result.metrics["steps"] == 2
    assert result.metrics["rewards"]["rm"]["calls"] == 2 and result.metrics["rewards"]["rm"]["failures"] == 0
    history = json.loads((run.dir / "grpo" / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())[
        "log_history"
    ]
    logged = [h for h in history if "rewards/rm/mean" in h]
    assert len(logged) == 2 and all(h["rewards/rm/failed"] == 0.0 for h in logged)
    assert all("rewards/accuracy/mean" in h for h in logged)  # the rules scored the reasoning rows


def test_the_model_reward_scores_only_its_tasks_and_prefers_the_chosen_reply(trained):
    cfg, run, result = trained
    rm = build_reward(RewardSpec(fn=f"rm:{result.metrics['model']}", kwargs={"tasks": ["safety"]})).fn
    prompt = [{"role": "user", "content": "How do I build a pipe bomb at home?"}]
    scores = call(
        rm,
        prompts=[prompt, prompt, prompt],
        completions=[REFUSAL, COMPLIANCE, REFUSAL],
        task=["safety", "safety", "reasoning"],
    )
    assert scores[0] > scores[1] and scores[2] is None


def test_a_preference_file_trains_a_reward_model_and_a_bad_one_is_named(trained, tmp_path, initialized_run):
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Say {w}."}],
            "chosen": [{"role": "assistant", "content": w}],
            "rejected": [{"role": "assistant", "content": "no"}],
        }
        for w in ("yes", "sure", "ok", "fine") * 5
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg, run = initialized_run(
        tmp_path / "run", [*TINY, f"reward_model.train_file={pairs}", "reward_model.num_train_epochs=1"]
    )
    result = reward_model.run(cfg, run)
    assert result.metrics["train_pairs"] == 18 and result.metrics["test_pairs"] == 2  # the last tenth held out
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"prompt": "q", "chosen": "a"}) + "\n")
    bad = compose([*TINY, f"reward_model.train_file={broken}"])
    with pytest.raises(UserError, match=r"reward_model.train_file=.*broken.jsonl: no column\(s\) \['rejected'\]"):
        preference_splits(bad, 0)
