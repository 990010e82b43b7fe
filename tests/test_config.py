"""One source of defaults: the dataclasses. The default config is exactly their defaults, and every YAML
option sets only keys it changes."""

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rlreason.cli import CONFIG_MODULE
from rlreason.config import RLReasonConfig
from rlreason.validation import validate

CONF = Path(__file__).parents[1] / "conf"
# Hydra's own launcher configs, not rlreason's schema
SKIP = {"hydra"}


def _options():
    return sorted(p for p in CONF.glob("*/*.yaml") if p.parent.name not in SKIP)


def test_the_default_config_is_the_dataclass_defaults():
    composed = OmegaConf.to_container(validate(CONFIG_MODULE, []), resolve=False)
    defaults = OmegaConf.to_container(OmegaConf.structured(RLReasonConfig), resolve=False)
    assert composed == defaults


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "defaults":
                yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), node


@pytest.mark.parametrize("option", _options(), ids=lambda p: f"{p.parent.name}={p.stem}")
def test_a_yaml_option_sets_only_what_it_changes(option):
    group = option.parent.name
    values = yaml.safe_load(option.read_text()) or {}
    package_global = option.read_text().startswith("# @package _global_")
    defaults = OmegaConf.structured(RLReasonConfig)
    for key, value in _leaves(values):
        path = key if package_global else f"{group}.{key}"
        default = OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(defaults, path)}))["v"]
        if hasattr(default, "value"):
            default = default.value
        assert value != default, f"{option.relative_to(CONF)}: {key} repeats the default {default!r}; leave it out"


def test_every_option_composes():
    for option in _options():
        group = option.parent.name
        extra = {"model=pretrained": ["model.path=x"], "data=file": ["data.train_file=a", "data.test_file=b"], "data=hub": ["data.path=x"]}
        override = f"{group}={option.stem}"
        validate(CONFIG_MODULE, [override, *extra.get(override, [])])
