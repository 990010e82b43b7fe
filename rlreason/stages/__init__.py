"""Pipeline stages. Each module exposes ``run(cfg, run) -> StageResult``; this maps names to modules."""

STAGES = {
    "init": "rlreason.stages.init",
    "sft": "rlreason.stages.sft",
    "reward_model": "rlreason.stages.reward_model",
    "grpo": "rlreason.stages.grpo",
    "rollout": "rlreason.stages.rollout",
    "eval": "rlreason.stages.eval",
}
