import os
import signal

import pytest
from transformers import TrainerControl

from rlreason.interrupt import SaveOnInterrupt


def test_first_ctrl_c_asks_the_trainer_to_save_and_stop_second_one_stops_now():
    before = signal.getsignal(signal.SIGINT)
    with SaveOnInterrupt() as interrupt:
        control = interrupt.on_step_end(None, None, TrainerControl())
        assert not control.should_save and not control.should_training_stop
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        control = interrupt.on_step_end(None, None, TrainerControl())
        assert control.should_save and control.should_training_stop
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
