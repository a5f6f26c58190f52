"""The main job: one network, four heads on its features, each with and without TTA, one table."""

import json

import numpy as np
import pytest
from helpers import TINY_CNN, make_fer_csv

from fer_keras.commands import compare as compare_command
from fer_keras.data import loading as data
from fer_keras.evaluation import evaluate
from fer_keras.experiments import compare
from fer_keras.experiments.compare_settings import HEADS

#: A tiny network on 40-px crops with ten-crop TTA, the shape of the cpu_fast recipe.
TINY = {"model": "shallow_cnn", "model_options": {"filters": [8, 16], "dense_units": 16},
        "epochs": 1, "batch_size": 16, "crop": 40, "tta": "tencrop", "verbose": 0}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    csv_path = str(make_fer_csv(root / "fer2013.csv", n_per_class_usage=2)[0])
    return root, compare.compare(csv_path, config=TINY, out=root / "models", l2svm_epochs=3)


def test_every_head_with_and_without_tta_on_every_evaluation_split(result):
    _, res = result
    assert [(row["head"], row["tta"]) for row in res["rows"]] == [
        (head, mode) for head in HEADS for mode in ("none", "tencrop")]
    for row in res["rows"]:
        assert list(row["metrics"]) == ["PublicTest", "PrivateTest"]
        assert row["fit_seconds"] >= 0
        assert row["run_dir"].split("/")[-1].startswith(f"shallow_cnn_{row['head']}_")


def test_heads_share_the_network(result):
    _, res = result
    runs = {row["head"]: evaluate.load_run(row["run_dir"]) for row in res["rows"]}
    network = runs["softmax"].run_dir
    for head in ("l2svm", "svc", "linear_svc"):
        assert (runs[head].run_dir / runs[head].config["features_from"]).resolve() == network
        assert not (runs[head].run_dir / "best.keras").exists()
        assert runs[head].config["crop"] == 40 and runs[head].config["tta"] == "tencrop"
    assert runs["svc"].svc is not None and runs["l2svm"].feature_head is not None
    assert type(runs["linear_svc"].svc.named_steps["svc"]).__name__ == "LinearSVC"
    assert type(runs["svc"].svc.named_steps["svc"]).__name__ == "SVC"


def test_head_runs_reevaluate_to_the_table(result):
    # compare scores every head from one forward pass per view; evaluate scores each run alone
    _, res = result
    for row in res["rows"]:
        again = evaluate.evaluate_run(row["run_dir"], out=False, tta=row["tta"])
        for split, m in again.items():
            assert m["confusion_matrix"] == row["metrics"][split]["confusion_matrix"], row["head"]


def test_markdown_and_json(result):
    _, res = result
    text = res["markdown"].read_text()
    assert res["table"] in text and text.count("![confusion matrix](") == 16
    for figure in res["markdown"].parent.glob("confusion_*.png"):
        assert f"({figure.name})" in text
    assert len(list(res["markdown"].parent.glob("confusion_*.png"))) == 16
    assert "| true \\ predicted | angry |" in text and "LinearSVC" in text
    summary = json.loads((res["markdown"].parent / "comparison.json").read_text())
    assert [r["head"] for r in summary["rows"]][::2] == list(HEADS)
    assert summary["tta"] == ["none", "tencrop"]
    header = res["table"].splitlines()[0]
    assert "PublicTest acc." in header and "PrivateTest macro-F1" in header and "TTA" in header
    assert "fit time (s)" in header and "run directory" in header


def test_table_format():
    m = {"accuracy": 0.5, "macro_f1": 0.25}
    rows = [{"head": "svc", "trained_on": "x", "tta": "none", "fit_seconds": 1.23,
             "run_dir": "r", "metrics": {"PublicTest": m}}]
    assert compare.format_table(rows).splitlines()[-1] == (
        "| svc | x | none | 50.00% | 0.250 | 1.2 | `r` |")


def test_main_with_set_overrides(tmp_path, capsys):
    path = make_fer_csv(tmp_path / "fer.csv", usages=("Training", "PublicTest"))[0]
    assert compare_command.main(["--data", str(path), "--set", "epochs=1", "--set",
                                 f"model_options={json.dumps(TINY_CNN)}", "--set", "crop=null",
                                 "--set", "tta=none", "--heads", "softmax,linear_svc",
                                 "--out", str(tmp_path / "m"), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "| softmax |" in out and "| linear_svc |" in out and "| svc |" not in out
    assert "PrivateTest" not in out and "comparison.md" in out and "tencrop" not in out
    network = json.loads(next((tmp_path / "m").glob("shallow_cnn_softmax_*/config.json"))
                         .read_text())
    # --set changed the default recipe (cpu_fast), it did not replace it
    assert network["recipe"] == "cpu_fast" and network["optimizer"] == "adamw"
    assert network["epochs"] == 1 and network["crop"] is None


def test_main_on_a_trained_model(result, tmp_path, capsys):
    root, res = result
    assert compare_command.main(["--model", str(res["network_run"]), "--data",
                                 str(root / "fer2013.csv"), "--heads", "softmax,svc",
                                 "--tta", "flip", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "| softmax | end to end with the features | flip |" in captured.out
    assert "note:" not in captured.err
    assert not list(tmp_path.glob("shallow_cnn_softmax_*"))  # nothing trained
    # the former name still works, with a note
    assert compare_command.main(["--backbone", str(res["network_run"]), "--recipe",
                                 "cpu_fast"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "note: --backbone is now --model (the trained network the heads are fitted on)",
        "error: --model takes a trained network: drop --recipe, --config, --set, --seed, "
        "--verbose and --max-minutes"]
    head_run = next(r["run_dir"] for r in res["rows"] if r["head"] == "svc")
    with pytest.raises(ValueError, match="needs a softmax network"):
        compare.compare(root / "fer2013.csv", backbone=head_run, out=tmp_path)
    with pytest.raises(ValueError, match="Unknown heads \\['rbf'\\]"):
        compare.compare(root / "fer2013.csv", backbone=res["network_run"], heads=("rbf",))


def test_sample_default_config():
    cfg = compare.network_config(None, str(data.sample_path()), None)
    assert cfg.recipe == "cpu_fast" and cfg.max_minutes == compare.SAMPLE_BUDGET_MINUTES
    assert cfg.batch_size == 32 and compare.network_config(None, "x.csv", None).batch_size == 64
    assert cfg.early_stopping_patience >= cfg.epochs  # nothing stops it before the clock
    assert compare.network_config(None, "elsewhere.csv", None).max_minutes == 57
    assert compare.network_config({"head": "svc"}, "x.csv", 2.0)["head"] == "softmax"
    assert compare.is_sample(data.sample_path()) and not compare.is_sample("x.csv")


@pytest.mark.slow
def test_the_main_job_learns_on_the_sample(tmp_path):
    """The README's first command on the embedded sample (its budget cut to 1.5 minutes): no
    head may be a constant predictor (issue 16: the old plateau schedule answered "happy")."""
    res = compare.compare(config=None, data_path=data.sample_path(), out=tmp_path,
                          max_minutes=1.5)
    for row in res["rows"]:
        m = row["metrics"]["PublicTest"]
        predicted = np.asarray(m["confusion_matrix"]).sum(axis=0)
        assert (predicted > 0).sum() >= 4, (row["head"], row["tta"], predicted)
        assert m["accuracy"] > 0.30 and m["macro_f1"] > 0.15, (row["head"], m["accuracy"])
