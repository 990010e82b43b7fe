from rlreason.report import format_summary


def test_table_lists_stages_and_each_checkpoints_scores():
    summary = {
        "stages": {
            "sft": {"status": "completed", "seconds": 12.5, "checkpoint": "/r/sft/model", "metrics": {}},
            "eval": {"status": "completed", "seconds": 3.0, "checkpoint": None, "metrics": {}},
        },
        "evals": {"sft": {"reasoning": {"accuracy": 0.4, "pass_at_1": 0.3, "format_rate": 1.0}}},
        "gates": [],
    }
    lines = format_summary(summary).splitlines()
    assert lines[1].split() == ["sft", "completed", "12.5", "/r/sft/model"]
    assert lines[2].split() == ["eval", "completed", "3.0", "-"]
    assert lines[-1].split() == ["sft", "reasoning", "0.400", "0.300", "1.000"]
