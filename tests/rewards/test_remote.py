"""``rlreason serve-reward`` + ``remote:URL``: OpenRLHF's /get_reward, giving the in-process scores."""

import subprocess
import sys
import threading

import pytest
import requests

from rlreason.config import compose
from rlreason.data.mixer import grpo_rows
from rlreason.rewards import RewardConfig, RewardError, RewardSpec, build_reward, build_rewards
from rlreason.rewards.guard import call
from rlreason.rewards.remote import make_server
from rlreason.rewards.samples import sample_call


@pytest.fixture(scope="module")
def mixed_rows():
    """GRPO rows of the three tasks, as TRL hands them to rewards."""
    cfg = compose(["data.reasoning.grpo_size=3", "data.tool_calling.grpo_size=3", "data.safety.grpo_size=3"])
    return grpo_rows(cfg.data, 0)[0]


def _serving(reward):
    server = make_server(reward.fn, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.mark.parametrize("name", ["accuracy", "tool_calling", "safety"])
def test_a_served_reward_scores_as_it_does_in_process(name, mixed_rows):
    local = build_reward(RewardSpec(fn=name))
    server, url = _serving(local)
    try:
        assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok", "reward": name}
        remote = build_rewards(RewardConfig(functions=[RewardSpec(fn=f"remote:{url}")]))[0]
        assert remote.name == "remote"
        expected = call(sample_call, reward=local.fn, rows=mixed_rows)
        assert call(sample_call, reward=remote.fn, rows=mixed_rows) == expected
        assert {v for v in expected if v is not None} == {0.0, 1.0}  # real scores, not all None
    finally:
        server.shutdown()


def test_an_openrlhf_request_is_scored_from_query_prompts_and_labels():
    server, url = _serving(build_reward(RewardSpec(fn="accuracy")))
    try:
        body = {
            "query": ["Q: 2+2?<answer>4</answer>", "Q: 2+2?<answer>5</answer>"],
            "prompts": ["Q: 2+2?"] * 2,
            "labels": ["4", "4"],
        }
        answer = requests.post(f"{url}/get_reward", json=body, timeout=10).json()
        assert answer["rewards"] == [1.0, 0.0] and answer["scores"] == [1.0, 0.0] and answer["extra_logs"] == {}
        bad = requests.post(f"{url}/get_reward", json={"prompts": []}, timeout=10)
        assert bad.status_code == 400 and '"query"' in bad.json()["error"]
    finally:
        server.shutdown()


def test_a_failing_served_reward_and_a_dead_server_are_errors_naming_the_url(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text("def broken(prompts, completions, **kwargs):\n    raise ValueError('no model loaded')\n")
    server, url = _serving(build_reward(RewardSpec(fn=f"{plugin}:broken")))
    remote = build_reward(RewardSpec(fn=f"remote:{url}"))
    try:
        with pytest.raises(
            RewardError, match=r"reward 'remote' http://127.0.0.1:\d+/get_reward answered 500: .*no model loaded"
        ):
            call(remote.fn, prompts=["q"], completions=["a"])
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(RewardError, match=r"get_reward: ConnectError.*is the server running"):
        call(
            build_reward(RewardSpec(fn=f"remote:{url}", kwargs={"max_retries": 0})).fn, prompts=["q"], completions=["a"]
        )
    on_error_none = build_reward(RewardSpec(fn=f"remote:{url}", kwargs={"max_retries": 0}), on_error="none")
    assert call(on_error_none.fn, prompts=["q"], completions=["a"]) == [None]


def test_the_serve_reward_command_serves_a_spec_until_stopped(mixed_rows):
    port = 8779
    process = subprocess.Popen(
        [sys.executable, "-m", "rlreason", "serve-reward", "safety", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        while line and "serving reward" not in line:
            line = process.stdout.readline()
        assert f"serving reward 'safety' on http://127.0.0.1:{port}/get_reward" in line
        remote = build_reward(RewardSpec(fn=f"remote:http://127.0.0.1:{port}"))
        expected = call(sample_call, reward=build_reward(RewardSpec(fn="safety")).fn, rows=mixed_rows)
        assert call(sample_call, reward=remote.fn, rows=mixed_rows) == expected
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_reward_refuses_a_bad_spec_at_once(capsys):
    from rlreason.rewards.cli import serve_main

    with pytest.raises(SystemExit) as stopped:
        serve_main(["nope"])  # what `rlreason serve-reward nope` runs
    assert (
        stopped.value.code == 2 and "rlreason: serve-reward: reward 'nope': unknown built-in" in capsys.readouterr().err
    )
