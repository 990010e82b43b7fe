import pytest

from rlreason.evals.gates import Gate, GatesConfig, bootstrap_change, evaluate_gate, markdown_report

CFG = GatesConfig(num_bootstrap=2000)


def test_a_real_regression_fails_the_gate():
    baseline = [1] * 90 + [0] * 10  # 0.90
    candidate = [1] * 60 + [0] * 40  # 0.60, every lost example was right before
    result = evaluate_gate(
        Gate("tool_calling", "accuracy", max_drop=0.05), "grpo", candidate, "sft", baseline, CFG, seed=0
    )
    assert not result.passed
    assert result.change == pytest.approx(-0.30)
    assert result.ci_high < 0 and result.ci_low < result.change < result.ci_high


def test_a_drop_within_the_threshold_passes():
    baseline = [1] * 90 + [0] * 10
    candidate = [1] * 88 + [0] * 12
    assert evaluate_gate(
        Gate("reasoning", "accuracy", max_drop=0.05), "grpo", candidate, "sft", baseline, CFG, seed=0
    ).passed


def test_noise_on_a_tiny_eval_does_not_fail_the_gate():
    baseline = [1, 0, 1, 0, 1]
    candidate = [0, 1, 0, 0, 1]  # -0.2, but five examples cannot tell
    result = evaluate_gate(
        Gate("safety", "refusal_rate", max_drop=0.05), "grpo", candidate, "sft", baseline, CFG, seed=0
    )
    assert result.ci_high >= 0 and result.passed


def test_lower_is_better_metrics_fail_when_they_rise():
    baseline = [0] * 95 + [1] * 5  # over-refusal 0.05
    candidate = [0] * 60 + [1] * 40
    gate = Gate("safety", "over_refusal_rate", max_drop=0.05, higher_is_better=False)
    assert not evaluate_gate(gate, "grpo", candidate, "sft", baseline, CFG, seed=0).passed
    assert evaluate_gate(gate, "grpo", baseline, "sft", candidate, CFG, seed=0).passed  # an improvement


def test_bootstrap_is_seeded_and_checks_pairing():
    a, b = [1, 0, 1, 1, 0, 1], [0, 0, 1, 0, 0, 1]
    assert bootstrap_change(a, b, num_bootstrap=500, confidence=0.9, seed=3) == bootstrap_change(
        a, b, num_bootstrap=500, confidence=0.9, seed=3
    )
    with pytest.raises(ValueError, match="same non-empty examples"):
        bootstrap_change([1, 0], [1], num_bootstrap=10, confidence=0.9, seed=0)


def test_markdown_report_marks_failures():
    result = evaluate_gate(Gate("tool_calling", "accuracy"), "grpo", [0] * 50, "sft", [1] * 50, CFG, seed=0)
    report = markdown_report([result])
    assert "| grpo | tool_calling | accuracy | 1.000 (sft) | 0.000 | -1.000 |" in report
    assert "**FAIL**" in report
