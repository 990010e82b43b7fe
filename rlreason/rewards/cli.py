"""``rlreason rewards list``, ``rlreason rewards check SPEC`` and ``rlreason serve-reward SPEC``.

    rlreason rewards list
    rlreason rewards check my_rewards.py:brevity [--kwargs '{"limit": 40}'] [--rows 4] [OVERRIDES...]
    rlreason rewards check rm:runs/x/reward_model/model pipeline=r1_all_scenario
    rlreason serve-reward rm:runs/x/reward_model/model --host 0.0.0.0 --port 5000

``check`` builds the reward as GRPO would, calls it on a few GRPO rows of the configured data (``OVERRIDES``
are the pipeline's own, e.g. ``data.safety.grpo_size=8``), each row with a correct reply and a wrong one,
and prints the scores. It refuses, naming the reward, a signature TRL cannot call, a wrong number of values,
NaN or inf, and anything that is not a number or None; the exit code is 2 then, 0 when the reward is usable.
``serve-reward`` serves a reward (any spec, or a reward-model folder) on OpenRLHF's ``POST /get_reward``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import time
from pathlib import Path

from rlreason.errors import UserError, exit_with

logger = logging.getLogger(__name__)


def _summary(obj) -> str:
    return (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")


def list_rewards() -> list[tuple[str, str, str]]:
    """(spec, where it comes from, what it does) for every built-in and spec form."""
    from rlreason.rewards.registry import BUILTINS, PREFIXES, resolve

    rows = []
    for name, target in BUILTINS.items():
        obj = resolve(name)
        source = target if isinstance(target, str) else f"{obj.__module__}:{obj.__name__}"
        rows.append((name, source, _summary(obj)))
    for prefix, (target, argument) in PREFIXES.items():
        rows.append((f"{prefix}:{argument.upper()}", target, _summary(resolve(target))))
    import trl.rewards

    rows.append(("<trl.rewards name>", "trl.rewards", "any of: " + ", ".join(sorted(trl.rewards.__all__))))
    rows.append(("module:function", "your package", "a function (or class, built with kwargs) of an importable module"))
    rows.append(("path/file.py:function", "your file", "a function (or class) of a plugin file"))
    return rows


def sample_rows(cfg, per_task: int) -> list[dict]:
    """Up to ``per_task`` GRPO rows of each task the configured data has."""
    from rlreason.data.mixer import grpo_rows

    rows, _ = grpo_rows(cfg.data, cfg.seed)
    picked, seen = [], {}
    for row in rows:
        task = row.get("task")
        if seen.get(task, 0) < per_task:
            seen[task] = seen.get(task, 0) + 1
            picked.append(row)
    return picked


def check(spec: str, kwargs: dict, per_task: int, overrides: list[str], timeout_s: float | None) -> dict:
    """Build and call the reward of ``spec`` on sample rows; print a table; returns the figures."""
    from rlreason.config import compose
    from rlreason.rewards.guard import call
    from rlreason.rewards.registry import RewardSpec, build_reward
    from rlreason.rewards.samples import sample_call

    cfg = compose(overrides)
    rows = sample_rows(cfg, per_task)
    if not rows:
        raise UserError("rewards check: the configured data has no GRPO rows; set data.<task>.grpo_size")
    reward = build_reward(RewardSpec(fn=spec, kwargs=kwargs, timeout_s=timeout_s), "raise", f"reward {spec!r}")
    start = time.perf_counter()
    scores = call(sample_call, reward=reward.fn, rows=rows)
    seconds = time.perf_counter() - start
    print(f"{'row':>4}  {'task':<13} {'reply':<8} score")
    replies = ["correct"] * len(rows) + ["wrong"] * len(rows)
    for index, (row, reply, score) in enumerate(zip(rows + rows, replies, scores)):
        shown = "None" if score is None else f"{score:.4f}"
        print(f"{index % len(rows):>4}  {row.get('task') or '-':<13} {reply:<8} {shown}")
    if all(score is None for score in scores):
        print(
            f"every score is None: {reward.name!r} scores none of these rows' tasks; add rows it scores, e.g. "
            "data.tool_calling.grpo_size=8 or data.safety.grpo_size=8",
            file=sys.stderr,
        )
    figures = {"reward": reward.name, "rows": len(rows), "scores": scores, "seconds": round(seconds, 3)}
    print(json.dumps(figures))
    return figures


def _kwargs(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"--kwargs: not JSON ({error.msg}); e.g. --kwargs '{{\"limit\": 40}}'") from error
    if not isinstance(value, dict):
        raise UserError("--kwargs: must be a JSON object of keyword arguments")
    return value


def rewards_main(argv: list[str]) -> None:
    """``rlreason rewards list|check``."""
    from rlreason.config import ConfigError
    from rlreason.rewards.guard import RewardError

    parser = argparse.ArgumentParser(
        prog="rlreason rewards", description="List rewards, or try one on the configured data."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the built-in rewards and the spec forms reward.functions accepts")
    checking = commands.add_parser("check", help="call a reward on a few rows of the configured data")
    checking.add_argument("spec", help="a reward spec, as in reward.functions[].fn")
    checking.add_argument("--kwargs", default="{}", help="the spec's kwargs, as a JSON object")
    checking.add_argument(
        "--rows", type=int, default=2, help="rows per task (each scored with a correct and a wrong reply)"
    )
    checking.add_argument("--timeout", type=float, default=None, help="the reward's time budget per call, in seconds")
    args, overrides = parser.parse_known_args(argv)
    if args.command == "list":
        for spec, source, summary in list_rewards():
            print(f"{spec:<24} {source:<44} {summary}")
        return
    unknown = [o for o in overrides if o.startswith("-") or "=" not in o]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (config overrides are key=value)")
    try:
        check(args.spec, _kwargs(args.kwargs), args.rows, overrides, args.timeout)
    except ConfigError as error:
        exit_with(error, "rlreason: config error")
    except (RewardError, UserError) as error:
        exit_with(error, "rlreason: reward check failed")


def serve_main(argv: list[str]) -> None:
    """``rlreason serve-reward SPEC``: serve a reward on ``POST /get_reward`` until stopped."""
    from rlreason.rewards.guard import RewardError
    from rlreason.rewards.registry import RewardSpec, build_reward
    from rlreason.rewards.remote import make_server

    parser = argparse.ArgumentParser(
        prog="rlreason serve-reward", description="Serve a reward over HTTP (OpenRLHF's /get_reward)."
    )
    parser.add_argument(
        "spec", help="a reward spec (rm:PATH, a built-in, module:function, file.py:function) or a reward-model folder"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--kwargs", default="{}", help="the spec's kwargs, as a JSON object")
    args = parser.parse_args(argv)
    spec = f"rm:{args.spec}" if (Path(args.spec) / "config.json").is_file() else args.spec
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        reward = build_reward(RewardSpec(fn=spec, kwargs=_kwargs(args.kwargs)), "raise", f"reward {spec!r}")
        server = make_server(reward.fn, args.host, args.port)
    except (RewardError, UserError) as error:
        exit_with(error, "rlreason: serve-reward")
    except OSError as error:
        exit_with(
            UserError(f"--host {args.host} --port {args.port}: cannot listen there ({error.strerror})"),
            "rlreason: serve-reward",
        )
    print(f"serving reward {reward.name!r} on http://{args.host}:{server.server_port}/get_reward", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
