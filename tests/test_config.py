"""One source of defaults: the dataclasses. The default config is exactly their defaults, and every YAML
option sets only keys it changes."""

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rlreason.config import RLReasonConfig, compose

CONF = Path(__file__).parents[1] / "conf"
# Hydra's own launcher configs, not rlreason's schema
SKIP = {"hydra"}


def _options():
    return sorted(p for p in CONF.glob("*/*.yaml") if p.parent.name not in SKIP)


def test_the_default_config_is_the_dataclass_defaults():
    composed = OmegaConf.to_container(compose([]), resolve=False)
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
    header = option.read_text().splitlines()[0]
    package = header.removeprefix("# @package ").strip() if header.startswith("# @package") else group
    defaults = OmegaConf.structured(RLReasonConfig)
    # An option built on another of its group (a checkpoint preset on model=pretrained) changes that one's values.
    bases = [
        yaml.safe_load((option.parent / f"{b}.yaml").read_text())
        for b in values.get("defaults", [])
        if isinstance(b, str) and b != "_self_" and not b.startswith("/")
    ]
    for key, value in _leaves(values):
        path = key if package == "_global_" else f"{package}.{key}"
        default = OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(defaults, path)}))["v"]
        for base in bases:
            default = OmegaConf.select(OmegaConf.create(base), path, default=default)
        if hasattr(default, "value"):
            default = default.value
        assert value != default, f"{option.relative_to(CONF)}: {key} repeats the default {default!r}; leave it out"


def test_every_option_composes():
    for option in _options():
        group = option.parent.name
        extra = {"data=file": ["data.train_file=a", "data.test_file=b"], "data=hub": ["data.path=x"]}
        override = f"{group}={option.stem}"
        if group == "model" and option.stem != "tiny_moe":  # every checkpoint recipe needs the checkpoint
            extra[override] = ["model.path=x"]
        compose([override, *extra.get(override, [])])


@pytest.mark.parametrize("preset", ["qwen3_30b_a3b", "olmoe_1b_7b", "deepseek_v2_lite", "smollm2"])
def test_a_checkpoint_preset_is_the_pretrained_recipe_plus_its_own_changes(preset):
    pretrained = compose(["model=pretrained", "model.path=x"])
    cfg = compose([f"model={preset}", "model.path=x"])
    assert cfg.model.source.value == "pretrained" and cfg.model.model_type
    own = yaml.safe_load((CONF / "model" / f"{preset}.yaml").read_text())
    # an algo preset it names (`- /algo/gspo`) is kept in conf/algo/ only, and applies to grpo.*
    algos = [entry.removeprefix("/algo/") for entry in own.get("defaults", []) if str(entry).startswith("/algo/")]
    for algo in algos:
        own.setdefault("grpo", {}).update(yaml.safe_load((CONF / "algo" / f"{algo}.yaml").read_text()))
    for key, value in _leaves(own):
        assert OmegaConf.select(cfg, key) == value
    changed = {
        key
        for key, _ in _leaves(OmegaConf.to_container(pretrained))
        if key != "run_dir" and OmegaConf.select(cfg, key) != OmegaConf.select(pretrained, key)
    }
    assert changed == {key for key, _ in _leaves(own)}


@pytest.mark.parametrize(
    "algo, expected",
    [
        ("grpo", {"loss_type": "grpo", "beta": 0.04}),
        ("dr_grpo", {"loss_type": "dr_grpo", "scale_rewards": "none"}),
        ("dapo", {"loss_type": "dapo", "epsilon_high": 0.28, "mask_truncated_completions": True}),
        ("gspo", {"loss_type": "grpo", "importance_sampling_level": "sequence", "epsilon": 3e-4, "epsilon_high": 4e-4}),
    ],
)
def test_an_algo_preset_reaches_trls_config(algo, expected):
    from transformers import AutoModelForCausalLM, Qwen3MoeConfig

    from rlreason.stages.grpo import grpo_config

    cfg = compose([f"algo={algo}"])
    model = AutoModelForCausalLM.from_config(
        Qwen3MoeConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    args = grpo_config(cfg, "out", [1.0], "cpu", model.config)
    assert {key: getattr(args, key) for key in expected} == expected
