"""``llm_judge`` against a real vLLM server (CPU) on loopback: scores, the disk cache, a hung server's timeout and
a dead server's error (or None per ``reward.on_error``); template and score parsing; the key never leaks."""

import os
import re
import signal
import subprocess
import sys

import pytest

from rlreason.chat_endpoint import ChatClient, JudgeError
from rlreason.rewards import RewardError, RewardSpec, build_reward
from rlreason.rewards.guard import call
from rlreason.rewards.judge import LLMJudge, parse_score
from rlreason.rollout.server import wait_healthy

pytest.importorskip("vllm")

PORT = 8781
URL = f"http://127.0.0.1:{PORT}"
PROMPTS = [[{"role": "user", "content": f"What is {a} + {a}?"}] for a in range(4)]
COMPLETIONS = [[{"role": "assistant", "content": f"<answer>{a + a}</answer>"}] for a in range(4)]
# vLLM's structured outputs hold the tiny random model to a valid answer: one digit.
DIGIT = {"structured_outputs": {"regex": "[0-9]"}}


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory, initialized_run):
    """A vLLM OpenAI-compatible server for the tiny MoE: (url, model name, process)."""
    run_dir = tmp_path_factory.mktemp("judge")
    _, run = initialized_run(run_dir, ["logger=none", "model.tiny_moe.tokenizer_corpus_size=200"])
    checkpoint = run.latest_checkpoint()
    log = open(run_dir / "vllm.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            checkpoint,
            "--served-model-name",
            "judge",
            "--host",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--dtype",
            "float32",
            "--enforce-eager",
            "--max-model-len",
            "512",
            "--seed",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
        start_new_session=True,
    )
    try:
        wait_healthy(URL, 300, process, run_dir / "vllm.log")
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGCONT)
            process.terminate()
        process.wait(timeout=60)
        log.close()


def test_a_vllm_judge_scores_every_sample_and_answers_again_from_the_cache(judge_server, tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGE_API_KEY", "sk-secret-value")
    kwargs = {
        "url": URL,
        "extra_body": DIGIT,
        "max_score": 9,
        "cache": str(tmp_path / "judge.sqlite"),
        "api_key_env": "JUDGE_API_KEY",
        "concurrency": 4,
    }
    reward = build_reward(RewardSpec(fn="llm_judge", kwargs=kwargs))
    first = call(reward.fn, prompts=PROMPTS, completions=COMPLETIONS, answer=["0", "2", "4", "6"])
    assert len(first) == 4 and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in first)
    assert all(v * 9 == pytest.approx(round(v * 9)) for v in first)  # a digit out of 9
    client = reward.fn.fn.client
    assert (client.requests, client.cache_hits) == (4, 0)
    again = build_reward(RewardSpec(fn="llm_judge", kwargs=kwargs))  # a new run, the same cache file
    assert call(again.fn, prompts=PROMPTS, completions=COMPLETIONS) == first
    assert (again.fn.fn.client.requests, again.fn.fn.client.cache_hits) == (0, 4)
    assert "sk-secret-value" not in (tmp_path / "judge.sqlite").read_bytes().decode(errors="replace")
    assert "sk-secret-value" not in repr(client)


def test_a_hung_judge_times_out_and_a_dead_one_is_named(judge_server):
    os.killpg(judge_server.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        hung = build_reward(
            RewardSpec(fn="llm_judge", kwargs={"url": URL, "timeout": 1, "max_retries": 0, "cache": None})
        )
        with pytest.raises(
            RewardError,
            match=rf"reward 'llm_judge' \({URL}\): 4 of 4 samples failed; first: sample 0: {URL}: no answer within 1 s \(timeout\)",  # noqa: E501
        ):
            call(hung.fn, prompts=PROMPTS, completions=COMPLETIONS)
    finally:
        os.killpg(judge_server.pid, signal.SIGCONT)
    judge_server.terminate()
    judge_server.wait(timeout=60)
    kwargs = {"url": URL, "timeout": 2, "max_retries": 1, "cache": None}
    with pytest.raises(RewardError, match=rf"first: sample 0: {URL}: cannot connect"):
        call(build_reward(RewardSpec(fn="llm_judge", kwargs=kwargs)).fn, prompts=PROMPTS, completions=COMPLETIONS)
    lenient = build_reward(RewardSpec(fn="llm_judge", kwargs=kwargs), on_error="none")
    assert call(lenient.fn, prompts=PROMPTS, completions=COMPLETIONS) == [None] * 4
    assert lenient.fn.stats()["failures"] == 4


def test_scores_are_the_first_number_in_range_and_a_reply_without_one_fails():
    pattern = re.compile(r"-?\d+(?:\.\d+)?")
    assert parse_score("Score: 7/10", pattern, 0, 10) == 0.7
    with pytest.raises(JudgeError, match="holds no score"):
        parse_score("excellent", pattern, 0, 10)
    with pytest.raises(JudgeError, match=r"score 11 outside \[0, 10\]"):
        parse_score("11", pattern, 0, 10)


def test_the_template_reads_dataset_columns_and_names_a_missing_one():
    judge = LLMJudge(URL, template="Gold: {answer}. Reply: {completion}", cache=None)
    assert judge.contents(PROMPTS[:1], COMPLETIONS[:1], {"answer": ["0"]}) == ["Gold: 0. Reply: <answer>0</answer>"]
    with pytest.raises(KeyError, match=r"template field \{answer\} is not a column"):
        judge.contents(PROMPTS[:1], COMPLETIONS[:1], {})
    with pytest.raises(RewardError, match="must contain \\{completion\\}"):
        LLMJudge(URL, template="Rate {prompt}")


def test_the_cache_key_changes_with_every_setting_that_changes_the_answer():
    base = ChatClient(URL, cache=None)
    assert base.key("x") == ChatClient(URL, cache=None).key("x")
    for other in (
        ChatClient(URL, model="other", cache=None),
        ChatClient(URL, max_tokens=3, cache=None),
        ChatClient(URL, temperature=0.7, cache=None),
        ChatClient(URL, extra_body=DIGIT, cache=None),
    ):
        assert other.key("x") != base.key("x")
    assert base.key("x") != base.key("y")
