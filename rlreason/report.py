"""The console summary printed at the end of a pipeline run."""

from __future__ import annotations


def format_summary(summary: dict) -> str:
    """A plain-text table of stages and of each checkpoint's eval scores."""
    lines = [f"{'stage':<10} {'status':<10} {'seconds':>8}  checkpoint"]
    for name, entry in summary["stages"].items():
        lines.append(f"{name:<10} {entry['status']:<10} {entry['seconds']:>8.1f}  {entry['checkpoint'] or '-'}")
    if summary["evals"]:
        lines.append("")
        lines.append(f"{'checkpoint':<12} {'suite':<18} {'accuracy':>9} {'pass@1':>8} {'format':>8}")
        for label, suites in summary["evals"].items():
            for suite, scores in suites.items():
                lines.append(
                    f"{label:<12} {suite:<18} {scores.get('accuracy', float('nan')):>9.3f} "
                    f"{scores.get('pass_at_1', float('nan')):>8.3f} {scores.get('format_rate', float('nan')):>8.3f}"
                )
    return "\n".join(lines)


def print_summary(run) -> None:
    print(format_summary(run.summary))
    print(f"\nsummary: {run.summary_path}")
