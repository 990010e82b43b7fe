"""Pre-flight: every input a user can get wrong fails before the first stage, naming what is wrong."""

import json
import socket

import pytest

from rlreason.config import compose
from rlreason.errors import UserError
from rlreason.preflight import check_context, check_inputs

ALL = ["init", "sft", "grpo", "eval"]
ROWS = [
    {"prompt": "What is 2+3?", "answer": 5, "completion": "<think>2+3=5</think><answer>5</answer>"},
    {"prompt": "What is 7-4?", "answer": 3, "completion": "<think>7-4=3</think><answer>3</answer>"},
]
# Small synthetic sets, so each check takes well under a second.
SMALL = [
    "data.reasoning.sft_size=16",
    "data.reasoning.grpo_size=8",
    "data.reasoning.test_size=4",
    "data.tool_calling.sft_size=4",
    "data.tool_calling.grpo_size=0",
    "data.tool_calling.test_size=2",
    "data.safety.sft_size=4",
    "data.safety.test_size=2",
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _check(*overrides, stages=ALL):
    check_inputs(compose([*SMALL, *overrides]), stages)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_default_inputs_pass():
    _check()


def _files(tmp_path):
    """Every bad input of the parametrized test below, written to ``tmp_path``."""
    good = _jsonl(tmp_path / "good.jsonl", ROWS)
    (tmp_path / "broken.jsonl").write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    (tmp_path / "empty.jsonl").write_text("\n")
    _jsonl(tmp_path / "no_answer.jsonl", [ROWS[0], {"prompt": "What is 1+1?", "completion": "x"}])
    (tmp_path / "syntax.py").write_text("def reward(completions, **kwargs)\n    return [1.0]\n")
    (tmp_path / "raises.py").write_text("def reward(completions, **kwargs):\n    raise KeyError('gold')\n")
    (tmp_path / "short.py").write_text("def reward(completions, **kwargs):\n    return [1.0]\n")
    (tmp_path / "empty_model").mkdir()
    (tmp_path / "garbage_model").mkdir()
    (tmp_path / "garbage_model" / "config.json").write_text('{"model_type": "no-such-architecture"}')
    (tmp_path / "llama_model").mkdir()
    (tmp_path / "llama_model" / "config.json").write_text('{"model_type": "llama"}')
    return good


def _user_data(good, train=None, test=None):
    return ["data=file", f"data.train_file={train or good}", f"data.test_file={test or good}"]


BAD_INPUTS = {
    "reward file missing": (
        ["+reward.functions=[{fn: nope.py:reward}]"],
        "reward 'nope.py:reward': file nope.py does not exist",
    ),
    "reward function missing": (
        ["+reward.functions=[{fn: 'rlreason.tasks:nothing'}]"],
        "module 'rlreason.tasks' has no attribute 'nothing'",
    ),
    "reward module missing": (
        ["+reward.functions=[{fn: 'no_such_module:fn'}]"],
        "cannot import module 'no_such_module'",
    ),
    "reward plugin syntax error": (["+reward.functions=[{fn: {tmp}/syntax.py:reward}]"], r"syntax.py:1: expected ':'"),
    "reward raises": (
        ["+reward.functions=[{fn: {tmp}/raises.py:reward}]"],
        "fails on two sample GRPO rows: reward 'reward' raised KeyError",
    ),
    "reward wrong length": (["+reward.functions=[{fn: {tmp}/short.py:reward}]"], "returned 1 values for 4 completions"),
    "no rewards": (["reward.functions=[]"], "reward.functions is empty"),
    "train file missing": (
        _user_data("{tmp}/good.jsonl", train="{tmp}/nope.jsonl"),
        "data.train_file=.*nope.jsonl: no such file",
    ),
    "test file missing": (
        _user_data("{tmp}/good.jsonl", test="{tmp}/nope.jsonl"),
        "data.test_file=.*nope.jsonl: no such file",
    ),
    "malformed jsonl line": (
        _user_data("{tmp}/good.jsonl", train="{tmp}/broken.jsonl"),
        r"broken.jsonl:2: invalid JSON",
    ),
    "empty data file": (_user_data("{tmp}/good.jsonl", train="{tmp}/empty.jsonl"), "empty.jsonl: the file is empty"),
    "row without answer": (
        _user_data("{tmp}/good.jsonl", train="{tmp}/no_answer.jsonl"),
        r"no_answer.jsonl:2: no value for 'answer'",
    ),
    "model path missing": (
        ["model=pretrained", "model.path={tmp}/nope"],
        "model.path=.*nope: no such checkpoint folder",
    ),
    "model path empty": (
        ["model=pretrained", "model.path={tmp}/empty_model"],
        "empty_model: not a Hugging Face checkpoint folder",
    ),
    "model path garbage": (
        ["model=pretrained", "model.path={tmp}/garbage_model"],
        "garbage_model: config.json cannot be read",
    ),
    "gguf file missing": (
        ["model=pretrained", "model.path={tmp}/empty_model", "model.gguf_file=m.gguf"],
        "model.gguf_file=m.gguf: not in",
    ),
    "preset of another family": (
        ["model=qwen3_30b_a3b", "model.path={tmp}/llama_model"],
        "llama_model: a llama checkpoint, but the model preset is for qwen3_moe",
    ),
    "retention texts missing": (
        ["eval.retention.texts={tmp}/nope.jsonl"],
        "eval.retention.texts=.*nope.jsonl: no such file",
    ),
    "retention texts without text": (["eval.retention.texts={tmp}/good.jsonl"], "good.jsonl: no 'text' column; found"),
    "processes unknown on CPU": (
        ["distributed=zero2", "device=cpu"],
        "distributed=zero2 on CPU: set distributed.num_processes",
    ),
    "uneven batch split": (
        ["distributed=zero2", "distributed.num_processes=3"],
        "sft.batch_size: 32 does not split evenly over 3 processes",
    ),
    "eval checkpoint missing": (
        ["eval.checkpoints=[{tmp}/nope]"],
        r"eval.checkpoints\[0\]=.*nope: no such checkpoint folder",
    ),
    "server not running": (
        ["rollout=vllm_server", "rollout.server.url=http://127.0.0.1:{port}"],
        "rollout.server.url=.*: nothing answers there",
    ),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_fail_before_training_naming_what_is_wrong(tmp_path, name):
    good = _files(tmp_path)
    overrides, message = BAD_INPUTS[name]
    overrides = [o.replace("{tmp}", str(tmp_path)).replace("{port}", str(_closed_port())) for o in overrides]
    if name.startswith(("reward", "no rewards")):
        overrides += _user_data(good)  # a plain user file: the rewards get its rows
    with pytest.raises(UserError, match=message.replace("{tmp}", str(tmp_path))):
        _check(*overrides)


def test_user_data_in_csv_is_read(tmp_path):
    (tmp_path / "train.csv").write_text(
        "prompt,answer,completion\nWhat is 2+3?,5,<think>2+3=5</think><answer>5</answer>\n"
    )
    _check(*_user_data(str(tmp_path / "train.csv")))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """The tiny MoE's init checkpoint (its tokenizer and its positions)."""
    from rlreason.stages import init
    from rlreason.stages.contract import Run

    run_dir = tmp_path_factory.mktemp("init")
    cfg = compose([f"run_dir={run_dir}", "model.tiny_moe.tokenizer_corpus_size=100"])
    return init.run(cfg, Run(run_dir)).checkpoint


def test_prompts_longer_than_the_context_fail_or_are_dropped_when_allowed(tmp_path, tiny_checkpoint, caplog):
    long = {"prompt": "What is " + " + ".join(["1"] * 400) + "?", "answer": 400, "completion": "x"}
    data = _user_data(_jsonl(tmp_path / "long.jsonl", [ROWS[0], long, ROWS[1]]))
    cfg = compose([*data, "rollout.max_model_length=512"])
    with pytest.raises(
        UserError, match=r"data: 1 of 3 GRPO prompts are longer than 464 tokens .* the first, row 2, has \d+"
    ):
        check_context(cfg, tiny_checkpoint, ALL)
    check_context(compose([*data, "data.drop_long_prompts=true"]), tiny_checkpoint, ALL)
    assert "1 of 3 GRPO prompts exceed 464 tokens; GRPO drops them" in caplog.text
    with pytest.raises(UserError, match="grpo.max_completion_length=600: leaves no room for a prompt"):
        check_context(compose([*data, "grpo.max_completion_length=600"]), tiny_checkpoint, ALL)


@pytest.mark.parametrize(
    "override, message",
    [
        ("grpo.num_generations=1", "grpo.num_generations: got 1; must be >= 2"),
        ("grpo.prompts_per_step=0", "grpo.prompts_per_step: got 0; must be >= 1"),
        ("grpo.learning_rate=-1", "grpo.learning_rate: got -1.0; must be >= 0"),
        ("grpo.max_completion_length=0", "grpo.max_completion_length: got 0; must be >= 1"),
        ("sft.batch_size=0", "sft.batch_size: got 0; must be >= 1"),
    ],
)
def test_training_numbers_are_checked_when_the_config_is_composed(override, message):
    from rlreason.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        compose([override])
