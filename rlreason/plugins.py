"""Importing what a config names by location: ``package.module:attr``, ``path/to/file.py:attr`` or a dotted
``package.module.attr``. Rewards (``reward.functions``) and tools (``rollout.tools``) are found this way."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from rlreason.errors import UserError


def _load_file(path: Path, attr: str, label: str, error: type[UserError]):
    if not path.is_file():
        raise error(f"{label}: file {path} does not exist")
    module_name = f"rlreason_plugin_{path.stem}_{abs(hash(path.resolve()))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as failure:
        raise error(f"{label}: {failure.filename}:{failure.lineno}: {failure.msg}") from failure
    except Exception as failure:  # the plugin's own code failed at import; say where
        raise error(f"{label}: importing {path} raised {type(failure).__name__}: {failure}") from failure
    if not hasattr(module, attr):
        raise error(f"{label}: {path} defines no {attr!r}")
    return getattr(module, attr)


def is_location(target: str) -> bool:
    """Whether ``target`` names an object by location (``module:attr``, ``file.py:attr`` or a dotted path)."""
    return ":" in target or "." in target


def import_target(target: str, label: str, error: type[UserError] = UserError):
    """The object ``target`` names by location; a failure raises ``error`` starting with ``label`` (the spec and
    the config key it came from)."""
    if ":" in target:
        location, attr = target.rsplit(":", 1)
        if location.endswith(".py"):
            return _load_file(Path(location), attr, label, error)
    else:
        location, attr = target.rsplit(".", 1)
    try:
        module = importlib.import_module(location)
    except ImportError as failure:
        raise error(f"{label}: cannot import module {location!r}: {failure}") from failure
    if not hasattr(module, attr):
        raise error(f"{label}: module {location!r} has no attribute {attr!r}")
    return getattr(module, attr)
