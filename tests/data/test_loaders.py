import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlreason.config import DataConfig, DataSource
from rlreason.data.loaders import grpo_dataset, load_file, sft_dataset, eval_dataset

ROWS = [
    {"prompt": "What is 2+3?", "answer": 5, "completion": "<think>2+3=5</think><answer>5</answer>"},
    {"prompt": "What is 7-4?", "answer": 3, "completion": "<think>7-4=3</think><answer>3</answer>"},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_jsonl_and_parquet_files_load_the_same(tmp_path):
    jsonl = _jsonl(tmp_path / "train.jsonl", ROWS)
    parquet = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    assert load_file(jsonl).to_list() == load_file(str(parquet)).to_list() == ROWS


def test_file_source_gives_every_stage_its_shape(tmp_path):
    cfg = DataConfig(source=DataSource.file, train_file=_jsonl(tmp_path / "t.jsonl", ROWS), test_file=_jsonl(tmp_path / "e.jsonl", ROWS[:1]))
    sft = sft_dataset(cfg, seed=0)
    assert sft[0] == {
        "prompt": [{"role": "user", "content": "What is 2+3?"}],
        "completion": [{"role": "assistant", "content": ROWS[0]["completion"]}],
    }
    assert grpo_dataset(cfg, seed=0)[1] == {"prompt": [{"role": "user", "content": "What is 7-4?"}], "answer": "3"}
    assert eval_dataset(cfg, seed=0).num_rows == 1


def test_custom_column_names(tmp_path):
    rows = [{"question": r["prompt"], "gold": r["answer"]} for r in ROWS]
    cfg = DataConfig(source=DataSource.file, train_file=_jsonl(tmp_path / "t.jsonl", rows), prompt_column="question", answer_column="gold")
    assert grpo_dataset(cfg, seed=0)["answer"] == ["5", "3"]


def test_hub_source_loads_a_local_dataset_folder(tmp_path):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", ROWS)
    _jsonl(folder / "test.jsonl", ROWS[1:])
    cfg = DataConfig(source=DataSource.hub, path=str(folder))
    assert grpo_dataset(cfg, seed=0).num_rows == 2
    assert eval_dataset(cfg, seed=0)["answer"] == ["3"]


def test_missing_columns_and_files_are_named(tmp_path):
    cfg = DataConfig(source=DataSource.file, train_file=_jsonl(tmp_path / "t.jsonl", [{"q": "x", "answer": 1}]))
    with pytest.raises(ValueError, match=r"t.jsonl: missing column\(s\) \['prompt'\]"):
        grpo_dataset(cfg, seed=0)
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_file(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ValueError, match="unsupported extension '.csv'"):
        (tmp_path / "x.csv").write_text("a\n")
        load_file(str(tmp_path / "x.csv"))
    with pytest.raises(ValueError, match="data.train_file must be set"):
        grpo_dataset(DataConfig(source=DataSource.file, train_file=None), seed=0)


def test_synthetic_sft_uses_the_teacher_and_rl_prompts_differ_from_sft():
    cfg = DataConfig(sft_size=200, grpo_size=200)
    cfg.arithmetic.max_steps = 3
    cfg.arithmetic.shortcut_rate = 1.0
    sft = sft_dataset(cfg, seed=0)
    grpo = grpo_dataset(cfg, seed=0)
    long = [r for r in sft if r["prompt"][0]["content"].count(".") == 4]  # start + 3 steps
    assert long and all(r["completion"][0]["content"].count("=") == 2 for r in long)
    assert {r["prompt"][0]["content"] for r in sft} != {r["prompt"][0]["content"] for r in grpo}
    assert set(eval_dataset(cfg, seed=0).column_names) == {"prompt", "answer"}


def test_sizes_keep_the_first_rows_of_user_data_and_zero_keeps_all(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", ROWS)
    cfg = DataConfig(source=DataSource.file, train_file=path, test_file=path, grpo_size=1, test_size=0)
    assert grpo_dataset(cfg, seed=0)["answer"] == ["5"]
    assert eval_dataset(cfg, seed=0).num_rows == 2
