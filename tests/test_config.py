"""The training config: one typed object, every choice checked in one place, old configs replay."""

import argparse
import dataclasses
import json

import pytest

from fer_keras.commands import _training
from fer_keras.evaluation.packaged import PRETRAINED_ROOT
from fer_keras.training import options, recipes
from fer_keras.training.config import CHOICES, DEFAULTS, TrainConfig, resolve_config


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_every_choice_names_the_accepted_values(key):
    with pytest.raises(ValueError, match=f"Unknown {key} 'bogus'. Accepted values: ") as info:
        resolve_config(**{key: "bogus"})
    for choice in CHOICES[key]:
        assert str(choice) in str(info.value)


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"epochs": 2.5}, "config key epochs takes int"),
    ({"epochs": True}, "config key epochs takes int"),
    ({"learning_rate": "fast"}, "config key learning_rate takes float"),
    ({"momentum": 1.0}, "momentum must be in \\[0, 1\\)"),
    ({"subset": 1.5}, "subset must be in \\[0, 1\\]"),
    ({"crop": 60}, "crop must be in \\[8, 48\\]"),
    ({"augment": {"twirl": 1}}, "Unknown augment keys \\['twirl'\\]"),
    ({"model": "alexnet"}, "Unknown model 'alexnet'. Accepted values: bst261_cnn"),
    ({"model_options": {"depth": 3}}, "Unknown model_options \\['depth'\\]"),
    ({"colour": "grey"}, "Unknown config keys \\['colour'\\]. Accepted keys: model, head"),
])
def test_bad_values_are_one_clear_error(changes, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(changes)


def test_typed_frozen_and_read_like_a_dict():
    cfg = resolve_config({"epochs": 5, "learning_rate": 1, "data": None}, schedule="onecycle")
    assert isinstance(cfg, TrainConfig) and cfg.epochs == 5 and cfg["schedule"] == "onecycle"
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 6
    assert cfg.replace(epochs=6).epochs == 6 and cfg.epochs == 5
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        cfg.replace(epochs=0)
    assert dict(cfg) == cfg.to_dict() and set(cfg) == set(DEFAULTS)
    assert TrainConfig().to_dict() == DEFAULTS  # DEFAULTS are read without Keras
    assert json.loads(json.dumps({**cfg})) == cfg.to_dict()
    assert resolve_config(cfg.to_dict()) == cfg and cfg != cfg.replace(seed=1)
    options_ = {"filters": [8]}
    frozen = resolve_config(model_options=options_)
    options_["filters"].append(16)  # the caller's dict is copied, not shared
    assert frozen.model_options == {"filters": [8]}


def test_the_packaged_models_config_replays():
    saved = json.loads((PRETRAINED_ROOT / "cpu_fast" / "config.json").read_text())
    cfg = resolve_config(saved)  # run metadata (versions, phases, packaged_from…) is dropped
    assert cfg.recipe == "cpu_fast" and cfg.crop == 40 and cfg.tta == "flip"
    # keys added since it was trained (momentum) take their defaults, the rest replay as saved
    assert cfg.to_dict() == {k: saved.get(k, DEFAULTS[k]) for k in DEFAULTS}
    assert "momentum" not in saved and cfg.momentum == DEFAULTS["momentum"]


def test_every_recipe_is_a_partial_config():
    for name in recipes.list_recipes():
        for cpu in (False, True):
            partial = recipes.recipe_config(name, cpu=cpu)
            assert set(partial) <= set(DEFAULTS)
            assert resolve_config(partial).recipe == name


def parse(argv):
    p = argparse.ArgumentParser()
    _training.add_config_options(p)
    return _training.base_config(p.parse_args(argv))


def test_base_config_recipe_then_file_then_set(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 7, "model_options": {"dropout": 0.2}}))
    config = parse(["--recipe", "cpu_fast", "--config", str(path), "--set", "epochs=9",
                    "--set", "model_options.block_dropout=0.3", "--set", "schedule=cosine",
                    "--set", "augment.zoom=0"])
    cfg = resolve_config(config)
    assert (cfg.epochs, cfg.schedule, cfg.optimizer) == (9, "cosine", "adamw")
    assert cfg.model_options == {"dropout": 0.2, "block_dropout": 0.3}
    assert cfg.augment == {"shift": 0.0, "zoom": 0}
    assert parse([]) == {}
    assert parse(["--recipe", "bst261", "--cpu"])["max_minutes"] == 20


@pytest.mark.parametrize("argv, message", [
    (["--set", "epochs"], "--set takes KEY=VALUE"),
    (["--set", "=3"], "--set takes KEY=VALUE"),
    (["--set", "seed.x=1"], "only model_options, augment take a dotted KEY"),
    (["--cpu"], "give --recipe NAME too"),
])
def test_base_config_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        parse(argv)


def test_base_config_without_a_command_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 7}))
    config = options.base_config("cpu_fast", config=path, changes=["epochs=9"])
    assert config == {**recipes.recipe_config("cpu_fast"), "epochs": 9}
    assert options.base_config() == {}


def test_set_values_are_json_or_strings():
    assert options.parse_set("max_minutes=null") == {"max_minutes": None}
    assert options.parse_set("equalize=hist") == {"equalize": "hist"}
    assert options.parse_set("model_options.filters=[8, 16]") == {
        "model_options": {"filters": [8, 16]}}
