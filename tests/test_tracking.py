from rlreason.tracking import plot_accuracy, plot_training_curves


def test_reward_curve_png_from_trainer_history(tmp_path):
    history = [{"step": i, "reward": i / 10, "rewards/accuracy/mean": i / 20} for i in range(1, 6)] + [
        {"train_runtime": 1.0}
    ]
    path = plot_training_curves(history, tmp_path / "rewards.png", ["reward", "rewards/accuracy/mean"], "GRPO")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_plot_without_the_metric(tmp_path):
    assert plot_training_curves([{"step": 1, "loss": 1.0}], tmp_path / "x.png", ["reward"], "GRPO") is None
    assert not (tmp_path / "x.png").exists()


def test_accuracy_bars(tmp_path):
    path = plot_accuracy(
        {"sft": {"greedy": 0.4, "pass@1": 0.3}, "grpo": {"greedy": 0.9, "pass@1": 0.85}}, tmp_path / "a.png"
    )
    assert path.stat().st_size > 1000
