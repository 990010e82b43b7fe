"""Renamed override keys keep working, with one warning line each."""

from rlreason.cli import CONFIG_MODULE, renamed
from rlreason.validation import validate


def test_old_keys_are_rewritten_to_their_new_names(capsys):
    args = renamed(["data.arithmetic.shortcut_rate=0", "data.sft_size=10", "eval.function_calling.limit=3", "+data.test_size=5", "seed=1"])
    assert args == ["data.reasoning.shortcut_rate=0", "data.reasoning.sft_size=10", "eval.tool_calling.limit=3",
                    "+data.reasoning.test_size=5", "seed=1"]
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 4 and warnings[0] == "rlreason: data.arithmetic.shortcut_rate is now data.reasoning.shortcut_rate; the old name will go away"
    cfg = validate(CONFIG_MODULE, args[:3])
    assert cfg.data.reasoning.shortcut_rate == 0 and cfg.eval.tool_calling.limit == 3


def test_current_keys_pass_unchanged(capsys):
    args = ["data.reasoning.sft_size=1", "data=file", "data.train_file=a.jsonl", "grpo.learning_rate=1e-5"]
    assert renamed(args) == args and capsys.readouterr().err == ""
