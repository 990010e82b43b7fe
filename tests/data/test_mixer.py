import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlreason.data.mixer import DataConfig, DataSource, grpo_columns, grpo_dataset, held_out_sets, sft_dataset
from rlreason.tasks.common import load_file
from rlreason.tasks.reasoning import ReasoningConfig
from rlreason.tasks.safety import SafetyConfig
from rlreason.tasks.tool_calling import ToolCallingConfig

ROWS = [
    {"prompt": "What is 2+3?", "answer": 5, "completion": "<think>2+3=5</think><answer>5</answer>"},
    {"prompt": "What is 7-4?", "answer": 3, "completion": "<think>7-4=3</think><answer>3</answer>"},
]


def _reasoning_only(sft_size=0, grpo_size=0, test_size=0, **kwargs) -> DataConfig:
    """A data config without the tool-calling and safety mix (sizes 0: every row of a user file)."""
    if kwargs.get("source") is DataSource.file:
        kwargs.setdefault("test_file", kwargs.get("train_file"))
    return DataConfig(
        **kwargs,
        reasoning=ReasoningConfig(sft_size=sft_size, grpo_size=grpo_size, test_size=test_size),
        tool_calling=ToolCallingConfig(0, 0, 0),
        safety=SafetyConfig(0, 0, 0),
    )


def eval_examples(cfg, seed):
    return held_out_sets(cfg, seed).get("reasoning", [])


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_jsonl_and_parquet_files_load_the_same(tmp_path):
    jsonl = _jsonl(tmp_path / "train.jsonl", ROWS)
    parquet = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    assert load_file(jsonl, "data.train_file").to_list() == load_file(str(parquet), "data.train_file").to_list() == ROWS


def test_file_source_gives_every_stage_its_shape(tmp_path):
    cfg = _reasoning_only(
        source=DataSource.file,
        train_file=_jsonl(tmp_path / "t.jsonl", ROWS),
        test_file=_jsonl(tmp_path / "e.jsonl", ROWS[:1]),
    )
    sft = sft_dataset(cfg, seed=0)
    assert sft[0] == {
        "prompt": [{"role": "user", "content": "What is 2+3?"}],
        "completion": [{"role": "assistant", "content": ROWS[0]["completion"]}],
        "tools": None,
    }
    expected = {
        **grpo_columns(),
        "prompt": [{"role": "user", "content": "What is 7-4?"}],
        "task": "reasoning",
        "answer": "3",
    }
    assert grpo_dataset(cfg, seed=0)[1] == expected
    assert len(eval_examples(cfg, seed=0)) == 1


def test_custom_column_names(tmp_path):
    rows = [{"question": r["prompt"], "gold": r["answer"]} for r in ROWS]
    cfg = _reasoning_only(
        source=DataSource.file,
        train_file=_jsonl(tmp_path / "t.jsonl", rows),
        prompt_column="question",
        answer_column="gold",
    )
    assert grpo_dataset(cfg, seed=0)["answer"] == ["5", "3"]


def test_hub_source_loads_a_local_dataset_folder(tmp_path):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", ROWS)
    _jsonl(folder / "test.jsonl", ROWS[1:])
    cfg = _reasoning_only(source=DataSource.hub, path=str(folder))
    assert grpo_dataset(cfg, seed=0).num_rows == 2
    assert [e.answer for e in eval_examples(cfg, seed=0)] == ["3"]


def test_missing_columns_and_files_are_named(tmp_path):
    cfg = _reasoning_only(source=DataSource.file, train_file=_jsonl(tmp_path / "t.jsonl", [{"q": "x", "answer": 1}]))
    with pytest.raises(ValueError, match=r"t.jsonl: missing column\(s\) \['prompt'\]"):
        grpo_dataset(cfg, seed=0)
    with pytest.raises(FileNotFoundError, match="data.train_file=.*nope.jsonl: no such file"):
        grpo_dataset(_reasoning_only(source=DataSource.file, train_file=str(tmp_path / "nope.jsonl")), seed=0)
    with pytest.raises(ValueError, match="unsupported extension '.txt'; allowed: .jsonl, .json, .parquet, .csv"):
        (tmp_path / "x.txt").write_text("a\n")
        load_file(str(tmp_path / "x.txt"), "data.train_file")
    with pytest.raises(ValueError, match="data.train_file: required by data=file"):
        DataConfig(source=DataSource.file, test_file="x.jsonl")


def test_synthetic_sft_uses_the_teacher_and_rl_prompts_differ_from_sft():
    cfg = _reasoning_only(sft_size=200, grpo_size=200, test_size=10)
    cfg.reasoning.max_steps = 3
    cfg.reasoning.shortcut_rate = 1.0
    sft = sft_dataset(cfg, seed=0)
    grpo = grpo_dataset(cfg, seed=0)
    long = [r for r in sft if r["prompt"][0]["content"].count(".") == 4]  # start + 3 steps
    assert long and all(r["completion"][0]["content"].count("=") == 2 for r in long)
    assert {r["prompt"][0]["content"] for r in sft} != {r["prompt"][0]["content"] for r in grpo}
    assert len(eval_examples(cfg, seed=0)) == 10


def test_sizes_keep_the_first_rows_of_user_data_and_zero_keeps_all(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", ROWS)
    cfg = _reasoning_only(source=DataSource.file, train_file=path, test_file=path, grpo_size=1, test_size=0)
    assert grpo_dataset(cfg, seed=0)["answer"] == ["5"]
    assert len(eval_examples(cfg, seed=0)) == 2


def test_sft_mixes_tool_calling_and_safety_conversations_with_their_tools():
    cfg = DataConfig(
        reasoning=ReasoningConfig(sft_size=50),
        tool_calling=ToolCallingConfig(sft_size=30),
        safety=SafetyConfig(sft_size=20),
    )
    rows = sft_dataset(cfg, seed=0).to_list()
    assert len(rows) == 100
    with_tools = [r for r in rows if r["tools"]]
    assert len(with_tools) == 30
    assert all(json.loads(r["tools"])[0]["parameters"]["type"] == "object" for r in with_tools)
    refusals = [r for r in rows if "can't help" in r["completion"][0]["content"]]
    assert refusals and not any(r["tools"] for r in refusals)
    assert rows == sft_dataset(cfg, seed=0).to_list()  # the shuffle is seeded


def test_grpo_mix_renders_each_prompt_with_its_own_tools():
    from rlreason.models.tokenizer import train_tokenizer

    cfg = DataConfig(
        reasoning=ReasoningConfig(grpo_size=10),
        tool_calling=ToolCallingConfig(grpo_size=10),
        safety=SafetyConfig(grpo_size=10),
    )
    tokenizer = train_tokenizer(["What is the weather? Tools: get_weather 0123456789"], vocab_size=300)
    rows = grpo_dataset(cfg, seed=0, tokenizer=tokenizer).to_list()
    assert {r["task"] for r in rows} == {"reasoning", "tool_calling", "safety"}
    for row in rows:
        assert isinstance(row["prompt"], str) and row["prompt"].endswith("<|im_start|>assistant\n")
        tools = json.loads(row["tools"]) if row["tools"] else None
        assert ("Tools:" in row["prompt"]) == (tools is not None)
        if tools:
            assert all(f"\n{t['name']}(" in row["prompt"] for t in tools)
    with pytest.raises(ValueError, match="needs the tokenizer"):
        grpo_dataset(cfg, seed=0)
