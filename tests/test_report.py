from rlreason.report import format_summary


def test_table_lists_stages_scores_and_gates():
    summary = {
        "stages": {
            "sft": {"status": "completed", "seconds": 12.5, "checkpoint": "/r/sft/model", "metrics": {}},
            "eval": {"status": "completed", "seconds": 3.0, "checkpoint": None, "metrics": {}},
            "reward_model": {
                "status": "completed",
                "seconds": 8.0,
                "checkpoint": None,
                "metrics": {"model": "/r/reward_model/model", "accuracy": 0.8125},
            },
        },
        "evals": {
            "sft": {
                "reasoning": {"accuracy": 0.4, "pass_at_1": 0.3, "format_rate": 1.0, "num_problems": 300},
                "safety": {"refusal_rate": 0.9, "over_refusal_rate": 0.1},
            }
        },
        "gates": [
            {
                "checkpoint": "grpo",
                "baseline": "sft",
                "suite": "safety",
                "metric": "refusal_rate",
                "change": -0.3,
                "ci_low": -0.4,
                "ci_high": -0.2,
                "passed": False,
            },
        ],
    }
    lines = format_summary(summary).splitlines()
    assert lines[1].split() == ["sft", "completed", "12.5", "/r/sft/model"]
    assert lines[2].split() == ["eval", "completed", "3.0", "-"]
    assert lines[3].startswith("reward_model ") and lines[3].endswith(
        "/r/reward_model/model (reward model; held-out pairwise accuracy 0.812)"
    )
    assert lines[6].split() == ["sft", "reasoning", "accuracy=0.400", "pass_at_1=0.300", "format_rate=1.000"]
    assert lines[7].split() == ["sft", "safety", "refusal_rate=0.900", "over_refusal_rate=0.100"]
    assert lines[-1].split()[-1] == "FAIL" and "grpo vs sft: safety/refusal_rate" in lines[-1]
