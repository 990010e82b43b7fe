"""Pre-flight: everything that can be checked without training is checked before the first stage runs.

A bad reward spec, data file, checkpoint path or server address otherwise surfaces only when the stage that
needs it starts, possibly hours into a run. :func:`check_inputs` (before the first stage) covers:

* checkpoints: ``model.path`` (and ``model.gguf_file``) and ``eval.checkpoints`` exist and hold a config
  that ``transformers`` can read;
* data: every file the stages to run will read exists, parses, has its columns and a value in each
  (errors name file and line): the SFT rows, the GRPO rows and the eval suites are built once here;
* rewards: every ``reward.functions`` spec resolves, and each reward returns a valid value (float or None)
  for a correct and a wrong completion of two GRPO rows (a reward model the ``reward_model`` stage will
  train is checked when GRPO builds it); the ``reward_model`` stage's preference files;
* servers: a vLLM server (``rollout.server.url``) or judge endpoint named in the config answers;
* processes: with ``distributed=zero*`` the process count is known and every global batch splits evenly
  over it.

:func:`check_context` runs as soon as the policy's tokenizer exists (right after ``init``): every GRPO prompt
plus ``grpo.max_completion_length`` must fit the context (the engine's ``rollout.max_model_length`` and the
model's positions), unless ``data.drop_long_prompts`` lets GRPO drop those prompts (logged with a count).
The numbers of ``sft`` and ``grpo`` are checked even earlier, when the config is composed (their
dataclasses' ``__post_init__``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rlreason.distributed.config import TRAINING_STAGES, check_processes
from rlreason.errors import MissingInput, UserError, one_line
from rlreason.runtime import resolve_device

logger = logging.getLogger(__name__)

TRAINS_ON_GRPO_ROWS = ("grpo", "rollout")


def check_checkpoint(path: str, key: str):
    """``path`` is a Hugging Face checkpoint folder whose config loads; the error names ``key``. Returns the config."""
    from transformers import AutoConfig

    folder = Path(path)
    if not folder.exists():
        raise MissingInput(f"{key}={path}: no such checkpoint folder")
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise UserError(
            f"{key}={path}: not a Hugging Face checkpoint folder (no config.json); "
            f"name the folder save_pretrained wrote"
        )
    try:
        return AutoConfig.from_pretrained(str(folder))
    except Exception as error:  # transformers raises OSError, ValueError, JSONDecodeError, KeyError...
        raise UserError(f"{key}={path}: config.json cannot be read ({one_line(error)})") from error


def _check_model(model) -> None:
    """``model.path`` (and ``model.gguf_file``) exist; a preset's ``model.model_type`` matches the checkpoint."""
    from transformers import AutoConfig

    if model.gguf_file:
        if not Path(model.path, model.gguf_file).is_file():
            raise MissingInput(f"model.gguf_file={model.gguf_file}: not in model.path={model.path}")
        # Reading a GGUF's metadata takes seconds: only when there is something to compare it with.
        config = AutoConfig.from_pretrained(model.path, gguf_file=model.gguf_file) if model.model_type else None
    else:
        config = check_checkpoint(model.path, "model.path")
    if model.model_type and config.model_type != model.model_type:
        raise UserError(
            f"model.path={model.path}: a {config.model_type} checkpoint, "
            f"but the model preset is for {model.model_type} "
            "(model.model_type); pick the preset of its family, or model=pretrained for any checkpoint"
        )


def _check_checkpoints(cfg, stages: list[str]) -> None:
    if cfg.model.path and "init" in stages:
        _check_model(cfg.model)
    if "eval" in stages:
        for index, path in enumerate(cfg.eval.checkpoints):
            check_checkpoint(path, f"eval.checkpoints[{index}]")


def made_by_a_stage(spec, stages: list[str]) -> bool:
    """Whether ``spec`` is a reward model that a ``reward_model`` stage of this pipeline has yet to train."""
    from rlreason.rewards.registry import reward_model_path

    path = reward_model_path(spec)
    return path is not None and "reward_model" in stages and not Path(path, "config.json").is_file()


def _check_rewards(cfg, rows: list[dict], stages: list[str]) -> None:
    from rlreason.rewards import RewardError, build_reward
    from rlreason.rewards.guard import call
    from rlreason.rewards.registry import check_specs
    from rlreason.rewards.samples import sample_call

    check_specs(cfg.reward.functions)  # before any is skipped: the names are known without the models
    sample = [rows[0], rows[-1]] if len(rows) > 1 else rows
    for index, spec in enumerate(cfg.reward.functions):
        if made_by_a_stage(spec, stages):
            logger.info("pre-flight: reward %s is trained by the reward_model stage; checked when GRPO starts", spec.fn)
            continue
        reward = build_reward(
            spec, cfg.reward.on_error, f"reward.functions[{index}]"
        )  # resolution errors are UserErrors
        try:
            call(sample_call, reward=reward.fn, rows=sample)
        except RewardError as error:
            raise UserError(
                f"reward.functions ({reward.name}): fails on two sample GRPO rows: {one_line(error)}"
            ) from error


def _reachable(url: str, key: str, path: str = "") -> None:
    import requests

    try:
        requests.get(f"{url.rstrip('/')}{path}", timeout=5)
    except requests.ConnectionError as error:
        raise UserError(
            f"{key}={url}: nothing answers there (connection refused or unknown host); start it, or fix the address"
        ) from error
    except requests.RequestException as error:
        raise UserError(f"{key}={url}: {type(error).__name__}: {one_line(error)}") from error


def _check_servers(cfg, stages: list[str]) -> None:
    if cfg.rollout.server.url and cfg.rollout.mode.value == "server" and any(s in stages for s in TRAINS_ON_GRPO_ROWS):
        _reachable(cfg.rollout.server.url, "rollout.server.url", "/health")
    judge = cfg.eval.safety.judge
    if "eval" in stages and judge.kind == "endpoint" and judge.url:
        _reachable(judge.url, "eval.safety.judge.url")


def check_inputs(cfg, stages: list[str]) -> None:
    """Check what ``stages`` (stage names, in order) will read; raises ``UserError`` naming what is wrong."""
    from rlreason.data.mixer import grpo_rows, sft_dataset

    start = time.perf_counter()
    _check_checkpoints(cfg, stages)
    if "sft" in stages:
        sft_dataset(cfg.data, cfg.seed)
    if any(s in stages for s in TRAINS_ON_GRPO_ROWS):
        rows, _ = grpo_rows(cfg.data, cfg.seed)
        if not rows:
            raise UserError("data: no GRPO rows (every data.<task>.grpo_size is 0, or the train file is empty)")
        _check_rewards(cfg, rows, stages)
    if "reward_model" in stages:
        from rlreason.data.preferences import preference_splits

        preference_splits(cfg, cfg.seed)
    if "eval" in stages:
        from rlreason.data.mixer import load_suites

        if not load_suites(cfg):
            raise UserError("eval: no suite to run (every data.<task>.test_size is 0 and no eval.<task>.data is set)")
        if cfg.eval.retention.texts:
            from rlreason.evals.retention import load_texts

            load_texts(cfg.eval.retention)
    if any(stage in TRAINING_STAGES for stage in stages):
        check_processes(cfg, resolve_device(cfg.device))
    _check_servers(cfg, stages)
    logger.info(
        "pre-flight: inputs of %s checked in %.1f s", ", ".join(stages) or "no stage", time.perf_counter() - start
    )


def check_context(cfg, checkpoint: str, stages: list[str]) -> None:
    """Every GRPO prompt fits the context with ``grpo.max_completion_length`` to spare (or is allowed to be
    dropped with ``data.drop_long_prompts``)."""
    if not any(s in stages for s in TRAINS_ON_GRPO_ROWS):
        return
    from rlreason.data.mixer import grpo_rows, prompt_lengths
    from rlreason.models.loading import load_tokenizer
    from rlreason.rollout.engine import context_limit

    limit = context_limit(cfg, checkpoint)
    budget = limit - cfg.grpo.max_completion_length
    if budget < 1:
        raise UserError(
            f"grpo.max_completion_length={cfg.grpo.max_completion_length}: leaves no room for a prompt in a context of "
            f"{limit} tokens (rollout.max_model_length / the model's positions)"
        )
    rows, _ = grpo_rows(cfg.data, cfg.seed)
    lengths = prompt_lengths(rows, load_tokenizer(checkpoint))
    too_long = [i for i, n in enumerate(lengths) if n > budget]
    if not too_long:
        return
    first = too_long[0]
    if cfg.data.drop_long_prompts:
        logger.warning(
            "pre-flight: %d of %d GRPO prompts exceed %d tokens; GRPO drops them (data.drop_long_prompts)",
            len(too_long),
            len(rows),
            budget,
        )
        return
    raise UserError(
        f"data: {len(too_long)} of {len(rows)} GRPO prompts are longer than {budget} tokens (the context of "
        f"{limit} minus grpo.max_completion_length={cfg.grpo.max_completion_length}); the first, row {first + 1}, "
        f"has {lengths[first]}. Raise rollout.max_model_length (up to the model's positions), shorten the prompts, "
        "or set data.drop_long_prompts=true"
    )
