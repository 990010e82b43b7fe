"""Start-up validation: compose the config once, and turn any failure into one line a user can act on."""

from __future__ import annotations

import dataclasses
import re

from hydra import compose, initialize_config_module
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rlreason.errors import UserError, one_line


class ConfigError(UserError):
    """A config problem, phrased as ``<key or override>: <what is wrong>; <what is allowed>``."""


def _chain(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def explain(error: BaseException) -> str:
    """One line for a composition or validation error, naming the key and what is allowed."""
    for cause in _chain(error):
        if isinstance(cause, MissingConfigException):
            missing = re.search(r"Could not find '([^']+)'", str(cause))
            options = cause.options or []
            if missing and "/" in missing.group(1):
                group, choice = missing.group(1).rsplit("/", 1)
                return f"{group}={choice}: no such option in conf/{group}/; allowed: {', '.join(sorted(options))}"
            return one_line(cause)
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            message = str(cause).splitlines()[0]
            unknown_key = isinstance(cause, (ConfigKeyError, ConfigAttributeError)) or "not in" in message
            if unknown_key and dataclasses.is_dataclass(cause.object_type):
                allowed = ", ".join(f.name for f in dataclasses.fields(cause.object_type))
                return f"{cause.full_key}: unknown key; allowed keys here: {allowed}"
            return f"{cause.full_key}: {message}"
        if isinstance(cause, ValueError) and not isinstance(cause, OmegaConfBaseException) and ": " in str(cause):
            return one_line(cause)
    return one_line(error)


def validate(config_module: str, overrides: list[str]):
    """Compose ``config`` with ``overrides`` and build the dataclasses (their ``__post_init__`` checks run).

    Returns the composed ``DictConfig``; raises ``ConfigError`` with a one-line explanation.
    """
    try:
        with initialize_config_module(config_module=config_module, version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(f"{', '.join(missing)}: required by the chosen config options; set it as an override")
        OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as error:  # composition raises several unrelated types; all mean "bad config"
        raise ConfigError(explain(error)) from error
    return cfg
