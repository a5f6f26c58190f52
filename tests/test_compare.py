"""The main job: one network, three heads on its features, one table."""

import json

import numpy as np
import pytest
from conftest import make_fer_csv

from fer_keras.evaluation import evaluate
from fer_keras.experiments import compare


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    csv_path = str(make_fer_csv(root / "fer2013.csv", n_per_class_usage=2)[0])
    return root, compare.compare(csv_path, epochs=1, out=root / "models", l2svm_epochs=3)


def test_three_heads_on_every_evaluation_split(result):
    _, res = result
    assert [row["head"] for row in res["rows"]] == ["softmax", "l2svm", "svc"]
    for row in res["rows"]:
        assert list(row["metrics"]) == ["PublicTest", "PrivateTest"]
        assert row["fit_seconds"] >= 0
        assert row["run_dir"].split("/")[-1].startswith(f"shallow_cnn_{row['head']}_")


def test_heads_share_the_network(result):
    _, res = result
    runs = {row["head"]: evaluate.load_run(row["run_dir"]) for row in res["rows"]}
    network = runs["softmax"].run_dir
    for head in ("l2svm", "svc"):
        assert (runs[head].run_dir / runs[head].config["features_from"]).resolve() == network
        assert not (runs[head].run_dir / "best.keras").exists()
    assert runs["svc"].svc is not None and runs["l2svm"].feature_head is not None


def test_head_runs_reevaluate_to_the_table(result):
    _, res = result
    for row in res["rows"]:
        again = evaluate.evaluate_run(row["run_dir"], out=False)
        for split, m in again.items():
            assert m["confusion_matrix"] == row["metrics"][split]["confusion_matrix"]


def test_markdown_and_json(result):
    _, res = result
    text = res["markdown"].read_text()
    assert res["table"] in text and text.count("![confusion matrix](") == 6
    assert "| true \\ predicted | angry |" in text and compare.SHARED in text
    summary = json.loads((res["markdown"].parent / "comparison.json").read_text())
    assert [r["head"] for r in summary["rows"]] == ["softmax", "l2svm", "svc"]
    header = res["table"].splitlines()[0]
    assert "PublicTest acc." in header and "PrivateTest macro-F1" in header
    assert "fit time (s)" in header and "run directory" in header


def test_table_format():
    m = {"accuracy": 0.5, "macro_f1": 0.25}
    rows = [{"head": "svc", "trained_on": "x", "fit_seconds": 1.23, "run_dir": "r",
             "metrics": {"PublicTest": m}}]
    assert compare.format_table(rows).splitlines()[-1] == "| svc | x | 50.00% | 0.250 | 1.2 | `r` |"


def test_main(tmp_path, capsys):
    path = make_fer_csv(tmp_path / "fer.csv", usages=("Training", "PublicTest"))[0]
    assert compare.main(["--data", str(path), "--epochs", "1", "--out", str(tmp_path / "m"),
                         "--svc-kind", "linear_svc", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "| softmax |" in out and "PrivateTest" not in out and "comparison.md" in out
    assert np.any([p.name.startswith("compare_heads_") for p in (tmp_path / "m").iterdir()])


def test_sample_gets_a_time_budget(tmp_path):
    from fer_keras.data import loading as data

    assert compare._is_sample(data.sample_path()) and not compare._is_sample(tmp_path / "x.csv")
