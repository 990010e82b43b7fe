import logging
from types import SimpleNamespace

from rlreason.rollout.trainer import MismatchWarning


def test_a_sampler_drifting_from_the_policy_is_warned_about(caplog):
    callback = MismatchWarning(max_logp_difference=0.5)
    state = SimpleNamespace(global_step=7)
    with caplog.at_level(logging.WARNING, logger="rlreason.rollout.trainer"):
        callback.on_log(None, state, None, logs={"sampling/sampling_logp_difference/max": 1e-5, "loss": 0.1})
        callback.on_log(None, state, None, logs={"loss": 0.1})
        assert not caplog.records
        callback.on_log(None, state, None, logs={"sampling/sampling_logp_difference/max": 2.3})
    assert callback.warned == 1
    assert "step 7" in caplog.text and "rollout.max_logp_difference=0.5" in caplog.text
