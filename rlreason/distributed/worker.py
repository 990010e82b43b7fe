"""One rank of a multi-process training stage: ``python -m rlreason.distributed.worker RUN_DIR LABEL``, started by
``torch.distributed.run`` from :mod:`rlreason.distributed.launch`.

Every rank reads the run's current config (``config.yaml``, the attempt's resolved config), joins the
process group (gloo on CPU, NCCL on GPU) before TRL builds its accelerator, and runs the stage's own
``run(cfg, run)``; the trainers pick up the DeepSpeed config from ``<stage>/distributed/deepspeed.json``.
Rank 0 writes the result for the parent, which alone records it in ``summary.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from rlreason.distributed.comm import is_main_process
from rlreason.distributed.config import STOP_RESULT
from rlreason.distributed.zero import config_dir
from rlreason.interrupt import STOP_SIGNALS


def load_config(run_dir: Path):
    """The run's current resolved config, as the schema's DictConfig (what the parent's stages get)."""
    from omegaconf import OmegaConf

    from rlreason.config import RLReasonConfig

    cfg = OmegaConf.merge(OmegaConf.structured(RLReasonConfig), OmegaConf.load(run_dir / "config.yaml"))
    OmegaConf.to_object(cfg)  # the dataclasses' own checks, as at start-up
    return cfg


def main(run_dir: str, label: str) -> int:
    os.environ.setdefault("ACCELERATE_USE_DEEPSPEED", "true")
    # The launcher ignores the stop signals and passed that on; a rank answers them as any rlreason process.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    run_dir = Path(run_dir)
    pid_dir = os.environ.get("RLREASON_PID_DIR")
    if pid_dir:
        Path(pid_dir, os.environ.get("RANK", "0")).write_text(str(os.getpid()))

    from accelerate import PartialState

    from rlreason.interrupt import Interrupted
    from rlreason.runtime import resolve_device
    from rlreason.stages import STAGES
    from rlreason.stages.contract import Run, stage_name

    cfg = load_config(run_dir)
    device = resolve_device(cfg.device)
    PartialState(backend="gloo" if device == "cpu" else "nccl", timeout=timedelta(seconds=cfg.distributed.timeout_s))
    run = Run(run_dir)
    run.current = label
    stage = importlib.import_module(STAGES[stage_name(label)])
    result_file = config_dir(run.dir / label) / "result.json"
    try:
        result = stage.run(cfg, run)
    except Interrupted as stop:
        if is_main_process():
            result_file.write_text(json.dumps({STOP_RESULT: stop.signum, "message": str(stop)}))
        return 0  # stopped as asked, checkpoint saved: not a failure for the launcher to report
    if is_main_process():
        result_file.write_text(json.dumps({"checkpoint": result.checkpoint, "metrics": result.metrics}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
