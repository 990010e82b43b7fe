"""``rlreason``: the Hydra entry point. With no arguments it runs ``pipeline=r1`` on the embedded tiny MoE.

``rlreason eval eval.checkpoints=[A,B,...]`` evaluates checkpoints alone (``pipeline=eval``), the first as
the baseline of the gates; ``rlreason eval score ...`` scores completions made elsewhere;
``rlreason rewards list|check`` and ``rlreason serve-reward`` are the reward tools (``rlreason/rewards/cli.py``);
``rlreason status RUN_DIR`` says where a run stands (``rlreason/status.py``).

Overrides are validated before anything runs: an unknown key, a bad value or a missing config group prints
one line naming the key and what is allowed, and exits with code 2. So does any other input a user can fix
(a data file, a checkpoint, a reward spec, a run dir; ``rlreason.errors.UserError``), found by the
pre-flight before the first stage or wherever it shows up; ``--verbose`` (or ``HYDRA_FULL_ERROR=1``) adds
the traceback. A stop signal exits with 128 + its number (130 for Ctrl-C, 143 for SIGTERM), after the
running stage saved what it can (``rlreason/interrupt.py``).

Nothing heavy loads before a run starts: ``--help``, ``--cfg job``, ``status``, ``rewards list`` and a config
error answer in about a second (the pipeline, and TRL, vLLM and DeepSpeed behind it, are imported by ``_main``).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

# Quiet, offline-friendly defaults; a user's own environment wins.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Under hydra/launcher=slurm, Slurm warns a job before its time limit with the signal submitit asks for (its
# default is USR2): USR1, as jobs/*.sbatch use, so `scancel --signal=USR1` and the time limit requeue alike.
os.environ.setdefault("SUBMITIT_PREEMPT_SIGNAL", "USR1")
# TRL 1.16 warns on every import that vLLM 0.32 is past its tested range; said once in the README is enough.
warnings.filterwarnings("ignore", message="TRL currently supports vLLM versions")

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from rlreason.config import CONFIG_MODULE, ConfigError, compose, register_schema, renamed  # noqa: E402
from rlreason.errors import UserError, exit_with  # noqa: E402

logger = logging.getLogger("rlreason")

register_schema()


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="config")
def _main(cfg: DictConfig) -> None:
    # The pipeline (TRL, vLLM, DeepSpeed behind it) loads only once a run starts: every other answer is quick.
    from rlreason.distributed import cluster, follower
    from rlreason.interrupt import Interrupted, hand_back
    from rlreason.pipeline import run_pipeline
    from rlreason.report import print_summary

    # In a sweep each job gets its own directory; make the config say where it really is, and group the
    # sweep's W&B runs by the sweep.
    hydra_cfg = HydraConfig.get()
    OmegaConf.set_struct(cfg, False)
    cfg.run_dir = hydra_cfg.runtime.output_dir
    if hydra_cfg.mode == RunMode.MULTIRUN and cfg.logger.group is None:
        cfg.logger.group = Path(hydra_cfg.sweep.dir).name
    OmegaConf.set_struct(cfg, True)
    try:
        lay = cluster.layout(cfg)
        if not lay.is_leader:  # another node of a multi-node job: it does what the first task asks
            if follower.follow(lay, cfg.cluster.heartbeat_timeout_s):
                sys.exit(1)
            return  # (not sys.exit(0): under submitit every task must return for the job to have a result)
        with cluster.leading(lay):
            run = run_pipeline(cfg)
    except KeyboardInterrupt as stop:
        logger.warning("%s; re-run with run_dir=%s to resume", stop or "interrupted", cfg.run_dir)
        if isinstance(stop, Interrupted):
            hand_back(stop)  # under submitit: SIGUSR1 requeues the job, which resumes from the checkpoint
        sys.exit(stop.exit_code if isinstance(stop, Interrupted) else 130)
    except UserError as error:
        exit_with(error)
    print_summary(run)


USAGE = """\
usage: rlreason [OVERRIDES...]               run the pipeline (no overrides: pipeline=r1 on the tiny MoE)
       rlreason eval eval.checkpoints=[A,B]  evaluate checkpoints alone, gated against the first
       rlreason eval score suite=S data=F completions=F   score completions made elsewhere
       rlreason status RUN_DIR               where a run stands
       rlreason rewards list | check SPEC    the rewards, and a check of one on the configured data
       rlreason serve-reward SPEC            serve a reward over HTTP

options: --cfg job (print the resolved config)  -m (a sweep: seed=0,1,2)  --verbose (tracebacks)
         --hydra-help (Hydra's own flags)
overrides: key=value (grpo.learning_rate=1e-5), group=option (model=smollm2); the config groups:
"""


def print_help() -> None:
    """``rlreason --help``: the commands and every config group with its options, read from the files of
    ``conf/`` (Hydra's own help composes each group to list it, which takes seconds)."""
    from importlib.resources import files

    print(USAGE, end="")
    conf = files(CONFIG_MODULE)
    groups = {g.name: g for g in conf.iterdir() if g.is_dir() and g.name not in ("hydra", "__pycache__")}
    groups["hydra/launcher"] = conf / "hydra" / "launcher"
    for name, group in sorted(groups.items()):
        options = sorted(f.name.removesuffix(".yaml") for f in group.iterdir() if f.name.endswith(".yaml"))
        print(f"  {name:<15} {', '.join(options)}")
    print("every key and its default: rlreason --cfg job; documented in conf/<group>/*.yaml and docs/configuration.md")


def main() -> None:
    args = renamed(sys.argv[1:])
    if args[:1] in (["--help"], ["-h"]):
        print_help()
        return
    if "--verbose" in args:  # ours, not Hydra's: tracebacks for user errors (Hydra's own switch for its errors)
        args.remove("--verbose")
        os.environ["HYDRA_FULL_ERROR"] = "1"
    sys.argv = [sys.argv[0], *args]
    if args[:1] == ["status"]:
        from rlreason.status import main as status_main

        status_main(args[1:])
        return
    if args[:1] in (["rewards"], ["serve-reward"]):
        from rlreason.rewards.cli import rewards_main, serve_main

        (rewards_main if args[0] == "rewards" else serve_main)(args[1:])
        return
    if args[:2] == ["eval", "score"]:
        from rlreason.score import main as score_main

        score_main(args[2:])
        return
    if args[:1] == ["eval"]:  # `rlreason eval eval.checkpoints=[a,b] ...`: the eval stage alone
        args = ["pipeline=eval", *args[1:]]
        sys.argv = [sys.argv[0], *args]
    overrides = [a for a in args if not a.startswith("-") and not a.startswith("hydra")]
    # A sweep (-m seed=0,1,2) is validated by Hydra job by job; so are --help and --cfg requests.
    if not any(a.startswith("-") for a in args):
        try:
            cfg = compose(overrides)
        except ConfigError as error:
            exit_with(error, "rlreason: config error")
        if any(a.startswith("run_dir=") for a in overrides):  # Hydra writes there before a stage could say why not
            from rlreason.stages.contract import usable_dir

            try:
                usable_dir(cfg.run_dir)
            except UserError as error:
                exit_with(error)
    _main()


if __name__ == "__main__":
    main()
