"""Evaluation of run directories, the metrics, the figures and test-time augmentation."""

import json
import os
import subprocess
import sys

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers import TINY_TRAINING, make_fer_csv, make_images
from matplotlib.figure import Figure

from fer_keras import CLASS_NAMES
from fer_keras.commands import evaluate as evaluate_command
from fer_keras.data.loading import load_dataset
from fer_keras.data.pipeline import equalize_images
from fer_keras.evaluation import evaluate
from fer_keras.evaluation.metrics import (
    classification_metrics,
    plot_confusion_matrix,
    plot_history,
)
from fer_keras.evaluation.run_files import read_history
from fer_keras.evaluation.tta import views
from fer_keras.training import train

TINY = {**TINY_TRAINING, "epochs": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(csv path, svc run dir) trained once for the module."""
    root = tmp_path_factory.mktemp("evaluate")
    csv_path = str(make_fer_csv(root / "fer2013.csv", n_per_class_usage=2)[0])
    run_dir = train.train(TINY, data=csv_path, out=str(root / "models"), head="svc",
                          svc_kind="linear_svc")
    return csv_path, run_dir


def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 1, 2])
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]])
    m = classification_metrics(labels, scores, class_names=("a", "b", "c"))
    assert m["accuracy"] == 0.5 and m["top2_accuracy"] == 1.0 and m["n"] == 4
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["c"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_figures_are_returned_not_shown(trained):
    open_before = plt.get_fignums()
    fig = plot_confusion_matrix(np.arange(49).reshape(7, 7), title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # two panels and their colour bars
    curves = plot_history(read_history(trained[1] / "history.csv"), phase_starts=[0])
    assert isinstance(curves, Figure)
    assert plt.get_fignums() == open_before


def test_evaluate_every_split_by_default(trained):
    csv_path, run_dir = trained
    results = evaluate.evaluate_run(run_dir)
    assert list(results) == ["PublicTest", "PrivateTest"]
    for split, m in results.items():
        assert m["n"] == 14 and np.sum(m["confusion_matrix"]) == 14
        assert set(m["per_class"]) == set(CLASS_NAMES) and m["head"] == "svc"
        assert json.loads((run_dir / f"metrics_{split}.json").read_text()) == m
        assert (run_dir / f"confusion_{split}.png").stat().st_size > 0


def test_evaluate_matches_training_metrics(trained):
    _, run_dir = trained
    at_training = json.loads((run_dir / "metrics.json").read_text())["PublicTest"]
    again = evaluate.evaluate_run(run_dir, ["PublicTest"], out=False)["PublicTest"]
    assert again["confusion_matrix"] == at_training["confusion_matrix"]


def test_main_split_and_out(trained, tmp_path, capsys):
    csv_path, run_dir = trained
    assert evaluate_command.main([str(run_dir), "--split", "PrivateTest", "--data", csv_path,
                          "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "PrivateTest: n=14" in out and "surprise" in out
    assert {p.name for p in tmp_path.iterdir()} == {"metrics_PrivateTest.json",
                                                    "confusion_PrivateTest.png"}


def test_missing_split_is_explained(trained, tmp_path):
    _, run_dir = trained
    path = make_fer_csv(tmp_path / "no_private.csv", usages=("Training", "PublicTest"))[0]
    with pytest.raises(ValueError, match="no PrivateTest rows; its splits: Training, PublicTest"):
        evaluate.evaluate_run(run_dir, ["PrivateTest"], data_path=path, out=False)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        evaluate.load_run(tmp_path)


def test_cli_subprocess(trained, tmp_path):
    _, run_dir = trained
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "fer_keras.evaluate", str(run_dir),
                             "--split", "PublicTest", "--out", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PublicTest: n=14" in result.stdout


def test_main_tta_writes_its_own_files(trained, tmp_path, capsys):
    csv_path, run_dir = trained
    assert evaluate_command.main([str(run_dir), "--split", "PublicTest", "--data", csv_path,
                          "--out", str(tmp_path), "--tta", "flip"]) == 0
    assert "PublicTest (TTA flip): n=14" in capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"metrics_PublicTest_tta-flip.json",
                                                    "confusion_PublicTest_tta-flip.png"}
    metrics = json.loads((tmp_path / "metrics_PublicTest_tta-flip.json").read_text())
    assert metrics["tta"] == "flip" and metrics["head"] == "svc" and metrics["n"] == 14
    with pytest.raises(ValueError, match="Unknown TTA mode"):
        evaluate.evaluate_run(run_dir, ["PublicTest"], out=False, tta="mirror")


def test_run_scores_on_crops_of_a_crop_model(tmp_path):
    inputs = keras.Input((40, 40, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    run = evaluate.Run(tmp_path, {"equalize": "hist"}, model)
    faces = make_images(5, seed=2)
    equalized = equalize_images(faces, "hist")

    def predict(view):
        return keras.ops.convert_to_numpy(model(view[..., None].astype("float32")))

    np.testing.assert_allclose(run.scores(faces), predict(equalized[:, 4:44, 4:44]), atol=1e-6)
    ten = np.mean([predict(view) for view in views(equalized, "tencrop", 40)], axis=0)
    np.testing.assert_allclose(run.scores(faces, tta="tencrop"), ten, atol=1e-6)


def test_model_positionally_or_by_option(trained, tmp_path, capsys):
    csv_path, run_dir = trained
    args = ["--split", "PublicTest", "--data", csv_path, "--out", str(tmp_path)]
    assert evaluate_command.main(["--model", str(run_dir), *args]) == 0
    by_option = capsys.readouterr().out
    assert evaluate_command.main([str(run_dir), *args]) == 0
    assert capsys.readouterr().out == by_option
    with pytest.raises(SystemExit):
        evaluate_command.main([str(run_dir), "--model", str(run_dir), *args])
    assert "give the model once" in capsys.readouterr().err


def test_a_keras_file_is_its_network_alone(trained, tmp_path):
    csv_path, run_dir = trained
    metrics = evaluate.evaluate_run(run_dir / "best.keras", ["PublicTest"], data_path=csv_path,
                                    out=tmp_path)["PublicTest"]
    assert metrics["n"] == 14 and metrics["run_dir"] == str(run_dir)
    assert (tmp_path / "metrics_PublicTest.json").is_file()


def test_packaged_model_uses_its_own_tta_and_writes_here(packaged_model, csv_path, tmp_path,
                                                         monkeypatch, capsys):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = sorted(p.name for p in packaged_model.iterdir())
    # the default model
    assert evaluate_command.main(["--split", "PublicTest", "--data", csv_path]) == 0
    assert "PublicTest (TTA tencrop): n=14" in capsys.readouterr().out
    assert sorted(p.name for p in here.iterdir()) == ["confusion_PublicTest_tta-tencrop.png",
                                                      "metrics_PublicTest_tta-tencrop.json"]
    assert sorted(p.name for p in packaged_model.iterdir()) == before  # nothing written there
    ten = json.loads((here / "metrics_PublicTest_tta-tencrop.json").read_text())
    run = evaluate.load_run("cpu_fast")
    assert run.packaged and run.output_dir() == here and ten["tta"] == "tencrop"
    images, labels = load_dataset(csv_path)["PublicTest"]
    expected = classification_metrics(labels, run.scores(images, tta="tencrop"))
    assert ten["confusion_matrix"] == expected["confusion_matrix"]
    assert evaluate_command.main(["cpu_fast", "--split", "PublicTest", "--data", csv_path, "--tta",
                          "none", "--out", str(tmp_path / "center")]) == 0
    assert "PublicTest: n=14" in capsys.readouterr().out
    assert (tmp_path / "center" / "metrics_PublicTest.json").is_file()
    assert sorted(p.name for p in packaged_model.iterdir()) == before


def test_an_unknown_model_is_one_line(packaged_model, capsys):
    assert evaluate_command.main(["nosuch"]) == 2
    assert capsys.readouterr().err == (
        "error: No packaged model 'nosuch' (packaged: cpu_fast), nor a run directory or .keras "
        "file of that name: pass a run directory, a .keras file or a packaged name.\n")
