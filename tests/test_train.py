"""Training runs: run directory contents, heads, two-phase transfer, config replay, CLI."""

import csv
import json
import os
import subprocess
import sys

import keras
import pytest
from helpers import TINY_TRAINING, make_fer_csv

from fer_keras.commands import train as train_command
from fer_keras.data import loading as data
from fer_keras.models import heads, names
from fer_keras.training import train

TINY = {**TINY_TRAINING, "epochs": 2}
RUN_FILES = {"config.json", "summary.txt", "history.csv", "best.keras", "metrics.json",
             "confusion_matrix.png", "training_curves.png"}


def history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("head", names.HEADS)
def test_run_directory(head, csv_path, tmp_path):
    run_dir = train.train(TINY, data=csv_path, out=str(tmp_path / "models"), head=head)
    assert run_dir.parent == tmp_path / "models"
    assert run_dir.name.startswith(f"shallow_cnn_{head}_")
    expected = RUN_FILES | ({"svc_head.json", "svc_head.npz"} if head == "svc" else set())
    assert {p.name for p in run_dir.iterdir()} == expected  # nothing else, no temp files

    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"] == "finished" and config["head"] == head
    assert {"keras", "tensorflow", "numpy", "scikit-learn", "python"} <= set(config["versions"])
    assert config["data_sizes"] == {"Training": 14, "PublicTest": 14}
    assert len(history(run_dir)) == 2

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["selection_split"] == "PublicTest"
    assert metrics["PublicTest"]["n"] == 14 and "PrivateTest" not in metrics
    assert 0 <= metrics["PublicTest"]["accuracy"] <= metrics["PublicTest"]["top2_accuracy"] <= 1
    model = keras.saving.load_model(run_dir / "best.keras")
    expected = heads.L2SVMLoss if head == "l2svm" else keras.losses.SparseCategoricalCrossentropy
    assert isinstance(model.loss, expected)


def test_private_test_is_never_touched(csv_path, tmp_path):
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError("PrivateTest used during training")

        def __iter__(self):
            raise AssertionError("PrivateTest used during training")

    dataset = data.load_dataset(csv_path)
    dataset["PrivateTest"] = Untouchable()
    for head in names.HEADS:
        train.train(TINY, dataset=dataset, head=head, epochs=1, out=str(tmp_path))


def test_two_phase_transfer_training(csv_path, tmp_path):
    run_dir = train.train(
        model="vgg16_transfer", data=csv_path, out=str(tmp_path), epochs=1, fine_tune_epochs=1,
        learning_rate=1e-3, fine_tune_learning_rate=1e-5, batch_size=14, verbose=0,
        model_options={"weights": None, "image_size": 32, "dense_units": 4})
    phases = json.loads((run_dir / "config.json").read_text())["phases"]
    assert [p["trainable_layers"] for p in phases] == [
        ["features", "predictions"],
        ["vgg16/block5_conv1", "vgg16/block5_conv2", "vgg16/block5_conv3", "features",
         "predictions"]]
    assert [p["first_epoch"] for p in phases] == [0, 1]
    rows = history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-3, 1e-5])


def test_a_model_built_with_nothing_frozen_trains_in_one_phase(csv_path, tmp_path):
    # vgg16_nin from scratch: its base is trainable from the start, so there is nothing to unfreeze
    run_dir = train.train(
        model="vgg16_nin", data=csv_path, out=str(tmp_path), epochs=1, fine_tune_epochs=1,
        learning_rate=1e-3, fine_tune_learning_rate=1e-5, batch_size=14, verbose=0,
        model_options={"weights": None, "image_size": 32, "nin_filters": [4, 4, 4]})
    phases = json.loads((run_dir / "config.json").read_text())["phases"]
    assert len(phases) == 1 and "vgg16/block1_conv1" in phases[0]["trainable_layers"]
    assert len(history(run_dir)) == 1


def test_time_budget_stops_training(csv_path, tmp_path):
    run_dir = train.train(TINY, data=csv_path, out=str(tmp_path), epochs=5, max_minutes=1e-6)
    assert len(history(run_dir)) == 1


@pytest.mark.parametrize("augment", [False, True])
def test_seed_makes_runs_repeatable(augment, csv_path, tmp_path):
    runs = [train.train(TINY, data=csv_path, out=str(tmp_path), seed=7, augment=augment)
            for _ in range(2)]
    first, second = (history(r) for r in runs)
    for a, b in zip(first, second):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert a["val_accuracy"] == b["val_accuracy"]


def test_resolve_config_validates():
    with pytest.raises(ValueError, match="Unknown config keys \\['epoch'\\]"):
        train.resolve_config(epoch=3)
    with pytest.raises(ValueError, match="Unknown head"):
        train.resolve_config(head="hinge")
    with pytest.raises(ValueError, match="Unknown model"):
        train.resolve_config(model="nope")
    saved = {**train.DEFAULTS, "versions": {}, "status": "finished", "phases": []}
    assert train.resolve_config(saved).to_dict() == train.DEFAULTS


def test_config_from_args_merges_file_and_flags(tmp_path):
    saved = {**train.DEFAULTS, "model": "vgg16_transfer", "epochs": 9,
             "model_options": {"image_size": 32}, "versions": {}}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    args = train_command.build_parser().parse_args(
        ["--config", str(tmp_path / "config.json"), "--epochs", "2", "--weights", "none",
         "--equalize", "none", "--no-augment", "--model-options", '{"dense_units": 3}'])
    config = train.resolve_config(train_command.config_from_args(args))
    assert config["epochs"] == 2 and config["augment"] is False and config["equalize"] is None
    assert config["model_options"] == {"image_size": 32, "dense_units": 3, "weights": None}
    assert config["learning_rate"] == train.DEFAULTS["learning_rate"]


def test_arch_names_the_architecture_and_model_still_works(capsys):
    parse = train_command.build_parser().parse_args
    assert train_command.config_from_args(parse(["--arch", "resnet18"]))["model"] == "resnet18"
    assert capsys.readouterr().err == ""
    assert train_command.config_from_args(parse(["--model", "vgg_fer"]))["model"] == "vgg_fer"
    assert capsys.readouterr().err == ("note: --model names a trained model now; use --arch for "
                                       "an architecture\n")
    with pytest.raises(SystemExit):
        parse(["--arch", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_main_and_replay(csv_path, tmp_path, capsys):
    argv = ["--data", csv_path, "--out", str(tmp_path), "--epochs", "1", "--batch-size", "8",
            "--model-options", '{"filters": [4], "dense_units": 6}', "--head", "l2svm",
            "--verbose", "0", "--seed", "3"]
    assert train_command.main(argv) == 0
    (run_dir,) = tmp_path.glob("shallow_cnn_l2svm_*")
    assert "PublicTest accuracy" in capsys.readouterr().out

    assert train_command.main(["--config", str(run_dir / "config.json"), "--epochs", "2"]) == 0
    replay = sorted(tmp_path.glob("shallow_cnn_l2svm_*"))[-1]
    original = json.loads((run_dir / "config.json").read_text())
    replayed = json.loads((replay / "config.json").read_text())
    assert replay != run_dir and replayed["epochs"] == 2
    for key in ("head", "model_options", "seed", "batch_size", "data"):
        assert replayed[key] == original[key]


def test_cli_subprocess(csv_path, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "fer_keras.train", "--data", csv_path, "--out", str(tmp_path),
         "--epochs", "1", "--model-options", '{"filters": [4], "dense_units": 6}',
         "--head", "svc", "--svc-kind", "linear_svc", "--verbose", "0"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PublicTest accuracy" in result.stdout
    (run_dir,) = tmp_path.glob("shallow_cnn_svc_*")
    assert json.loads((run_dir / "svc_head.json").read_text())["steps"][1]["class"] == "LinearSVC"


def test_requires_a_selection_split(tmp_path):
    path = make_fer_csv(tmp_path / "train_only.csv", usages=("Training",))[0]
    with pytest.raises(ValueError, match="needs PublicTest"):
        train.train(TINY, data=str(path), out=str(tmp_path))
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no run directory was started


def test_model_options_are_checked_against_the_builder():
    with pytest.raises(ValueError,
                       match="Unknown model_options \\['weights'\\] for model 'shallow_cnn'"):
        train.resolve_config(model="shallow_cnn", model_options={"weights": None})
    config = train.resolve_config(model="vgg16_transfer", model_options={"weights": None})
    assert config["model_options"] == {"weights": None}
