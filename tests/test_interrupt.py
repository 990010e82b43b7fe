import os
import signal

import pytest
from transformers import TrainerControl

from rlreason.interrupt import STOP_SIGNALS, Interrupted, stop_on_signals
from rlreason.stages.training import SaveOnInterrupt


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_first_signal_asks_the_trainer_to_save_and_stop_second_one_stops_now(signum, monkeypatch):
    before = signal.getsignal(signum)
    with SaveOnInterrupt() as interrupt:
        control = interrupt.on_step_end(None, None, TrainerControl())
        assert not control.should_save and not control.should_training_stop
        os.kill(os.getpid(), signum)
        assert interrupt.requested
        os.kill(os.getpid(), signum)  # at once again: the same stop delivered twice (Slurm, and the launcher)
        control = interrupt.on_step_end(None, None, TrainerControl())
        assert control.should_save and control.should_training_stop
        monkeypatch.setattr("rlreason.interrupt.SAME_STOP_S", 0.0)  # as if sent later than that
        with pytest.raises(Interrupted) as stopped:
            os.kill(os.getpid(), signum)
        assert stopped.value.exit_code == 128 + signum
    assert signal.getsignal(signum) is before
    with pytest.raises(Interrupted, match=f"grpo stopped by {signal.Signals(signum).name} at step 7, checkpoint saved"):
        interrupt.raise_if_requested("grpo", 7)


def test_outside_training_sigterm_stops_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt) as stopped, stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(stopped.value, Interrupted) and stopped.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_no_signal_no_interruption():
    with SaveOnInterrupt() as interrupt:
        pass
    interrupt.raise_if_requested("sft", 3)  # returns quietly
