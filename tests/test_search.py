"""The optimizer x schedule search: one run per pair, results, resuming, settings checks, CLI."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import make_fer_csv
from matplotlib.figure import Figure

from fer_keras.commands import search as search_command
from fer_keras.data.figures import plot_search_heatmap
from fer_keras.experiments import search
from fer_keras.training import recipes, train

ARGS = ["--arch", "shallow_cnn", "--optimizers", "sgd,adam", "--schedules", "constant,cosine",
        "--epochs", "1", "--model-options", '{"filters": [8, 16], "dense_units": 16}',
        "--verbose", "0", "--name", "grid"]


@pytest.fixture
def csv_path(tmp_path):
    return str(make_fer_csv(tmp_path / "fer2013.csv", n_per_class_usage=1)[0])


def run_dirs(search_dir):
    return sorted(p.parent for p in search_dir.glob("trial_*/*/config.json"))


def test_search_trains_each_pair_once_and_resumes_a_killed_trial(csv_path, tmp_path,
                                                                   monkeypatch, capsys):
    argv = [*ARGS, "--data", csv_path, "--out", str(tmp_path)]
    search_dir = tmp_path / "grid"

    # The process dies (Ctrl-C) as the third trial starts training.
    real_fit, fits = train.fit_phases, []

    def dying_fit(*args, **kwargs):
        fits.append(1)
        if len(fits) == 3:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit_phases", dying_fit)
    assert search_command.main(argv) == 130
    assert capsys.readouterr().err.endswith("interrupted\n")
    assert [r["status"] for r in search.read_results(search_dir)] == [
        "finished", "finished", "failed"]
    monkeypatch.setattr(train, "fit_phases", real_fit)

    # Rerun: the killed trial continues its own run directory, the last one is trained.
    assert search_command.main(argv) == 0
    assert "| optimizer | schedule |" in capsys.readouterr().out
    runs = run_dirs(search_dir)
    assert len(runs) == 4 and len({r.parent for r in runs}) == 4  # one run per trial directory
    configs = {(c["optimizer"], c["schedule"]): c
               for c in (json.loads((r / "config.json").read_text()) for r in runs)}
    assert set(configs) == {(o, s) for o in ("sgd", "adam") for s in ("constant", "cosine")}
    assert [c.get("resumes", 0) for c in configs.values()].count(1) == 1
    assert all(c["status"] == "finished" and c["early_stopping_patience"] == 1
               for c in configs.values())
    assert configs[("sgd", "cosine")]["learning_rate"] == search.LEARNING_RATES["sgd"]

    with open(search_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and tuple(rows[0]) == search.COLUMNS
    accuracies = [float(r["PublicTest_accuracy"]) for r in rows]
    assert all(0 <= a <= 1 for a in accuracies) and accuracies == sorted(accuracies, reverse=True)
    assert (search_dir / "heatmap.png").stat().st_size > 0
    assert (search_dir / "results.md").read_text().count("| finished |") == 4

    # Third run: nothing left to train.
    calls = []
    monkeypatch.setattr(train, "train", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(train, "resume", lambda *a, **k: calls.append(a))
    before = (search_dir / "results.csv").read_text()
    assert search_command.main(argv) == 0
    assert calls == [] and run_dirs(search_dir) == runs
    assert (search_dir / "results.csv").read_text() == before

    # The same name with other settings is refused before anything trains.
    assert search_command.main([*argv, "--seed", "1"]) == 2
    assert "holds a search with other settings (seed: 0 → 1)" in capsys.readouterr().err


def test_unknown_optimizer_lists_the_accepted_values(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fer_keras.search", "--optimizers", "sgd,nadam", "--out",
         str(tmp_path)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2
    assert "Unknown optimizer 'nadam'. Accepted values: adam, adamw, sgd, sgd_nesterov, " \
           "adagrad, rmsprop." in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, message", [
    ({"schedules": ["cosine", "warmup"]}, "Unknown schedule 'warmup'. Accepted values: plateau"),
    ({"optimizers": ["sgd", "sgd"]}, "Give each optimizer once"),
    ({"learning_rates": {"sgd": 0}}, "learning rate of sgd must be a positive number"),
    ({"learning_rates": {"nadam": 1e-3}}, "Unknown optimizer 'nadam' in the learning rates"),
    ({"model_options": {"filters": [8]}},
     "Unknown model_options \\['filters'\\] for model 'vgg_fer'"),
    ({"config": {"optimizer": "sgd", "crop": 2}}, "crop must be in \\[8, 48\\]"),
])
def test_settings_are_checked(kwargs, message):
    with pytest.raises(search.SearchSettingsError, match=message):
        search.make_settings(**kwargs)


def test_quick_settings_and_trial_config():
    settings = search.make_settings(optimizers=["adamw"], schedules=["onecycle"], quick=True,
                                    learning_rates={"adamw": 3e-3}, data_path="x.csv")
    assert settings["model"] == "vgg_fer"
    assert search.default_name(settings) == "search_vgg_fer_quick"
    assert (settings["epochs_per_trial"], settings["subset"]) == (1, search.QUICK_SUBSET)
    assert settings["model_options"] == search.QUICK_MODEL_OPTIONS["vgg_fer"]
    config = train.resolve_config(search.trial_config(settings, "adamw", "onecycle"))
    assert (config["optimizer"], config["schedule"], config["learning_rate"]) == (
        "adamw", "onecycle", 3e-3)
    assert config["epochs"] == config["early_stopping_patience"] == 1
    assert config["data"] == str(Path("x.csv").resolve()) and config["max_minutes"] is None


def test_sgd_trials_keep_momentum_whatever_the_recipe():
    settings = search.make_settings(optimizers=["sgd"], schedules=["constant"], quick=True,
                                    config=recipes.recipe_config("vgg16_nin"),
                                    data_path="x.csv")
    assert recipes.recipe_config("vgg16_nin")["momentum"] == 0.0
    config = train.resolve_config(search.trial_config(settings, "sgd", "constant"))
    assert config["momentum"] == train.DEFAULTS["momentum"] == 0.9


def test_heatmap_marks_missing_pairs():
    fig = plot_search_heatmap(np.array([[0.6, np.nan], [0.5, 0.7]]), ["sgd", "adam"],
                              ["constant", "cosine"], title="t")
    assert isinstance(fig, Figure)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.600", "–", "0.500", "0.700"]
