"""One writer per run dir: a second command is refused naming the holder, a dead holder's lock is taken over,
another host's is refused unless forced, and a requeued attempt waits for the old one to let go."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from rlreason.errors import UserError
from rlreason.run_lock import LOCK_FILE, run_dir_lock

HOLD = """
import json, sys, time
from pathlib import Path
from rlreason.run_lock import LOCK_FILE, run_dir_lock
with run_dir_lock(Path(sys.argv[1])):
    if len(sys.argv) > 2:  # pretend to be another host's command
        record = json.loads((Path(sys.argv[1]) / LOCK_FILE).read_text())
        (Path(sys.argv[1]) / LOCK_FILE).write_text(json.dumps({**record, "host": sys.argv[2]}))
    print("held", flush=True)
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 600)
"""


def holder(run_dir, *args):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_command_is_refused_naming_the_holder(tmp_path):
    process = holder(tmp_path)
    try:
        with pytest.raises(
            UserError, match=rf"another command is using it \(pid {process.pid} on {socket.gethostname()}"
        ):
            with run_dir_lock(tmp_path):
                pass
    finally:
        process.kill()
        process.wait()


def test_the_lock_of_a_killed_holder_is_taken_over_with_a_log_line(tmp_path, caplog):
    process = holder(tmp_path)
    process.send_signal(signal.SIGKILL)  # no chance to let go: the OOM killer, kill -9
    process.wait()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == process.pid
    with caplog.at_level(logging.INFO), run_dir_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"took over the lock of pid {process.pid}" in caplog.text
    assert (tmp_path / LOCK_FILE).read_text() == ""  # let go: nobody holds it


def test_another_hosts_lock_is_refused_unless_forced(tmp_path, caplog):
    process = holder(tmp_path, "node-7")
    try:
        with pytest.raises(UserError, match="on another host, which this one cannot check.*resume.force_unlock=true"):
            with run_dir_lock(tmp_path):
                pass
        with caplog.at_level(logging.WARNING), run_dir_lock(tmp_path, force_unlock=True):
            pass
        assert "going on without the lock (resume.force_unlock=true)" in caplog.text
    finally:
        process.kill()
        process.wait()


def test_a_requeued_slurm_attempt_waits_for_the_old_one_to_let_go(tmp_path, monkeypatch):
    process = holder(tmp_path, socket.gethostname(), "2")  # lets go after 2 s
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    start = time.monotonic()
    with run_dir_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert process.wait() == 0 and time.monotonic() - start < 60
    process = holder(tmp_path, socket.gethostname(), "30")
    try:
        with pytest.raises(UserError, match="another command is using it"):
            with run_dir_lock(tmp_path, wait_s=1):
                pass
    finally:
        process.kill()
        process.wait()
