import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs on pytest-xdist workers (pyproject's addopts): each worker, and every command it starts, gets its
# share of the cores, so that torch's and vLLM's OpenMP threads of two workers never compete for one core.
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // workers)))


import pytest  # noqa: E402  (after the environment above, which must be set before anything imports HF)


@pytest.fixture(scope="session")
def initialized_run():
    """``initialized_run(run_dir, overrides) -> (cfg, run)``: a run whose init stage (tiny MoE) is done."""
    from rlreason.config import compose
    from rlreason.stages import init
    from rlreason.stages.contract import Run

    def make(run_dir, overrides):
        cfg = compose([f"run_dir={run_dir}", *overrides])
        run = Run(run_dir)
        run.record("init", "completed", 0.0, init.run(cfg, run))
        return cfg, run

    return make


@pytest.fixture(scope="session")
def varying_reward():
    """``tests/varying_reward.py:length_parity``, passed to trainers as a callable or to the reward registry (and
    to ``rlreason`` subprocesses) as ``path:function``."""
    from varying_reward import length_parity

    return length_parity


from public_formats import public_samples  # noqa: E402,F401  (a fixture: sample files in each public format)
