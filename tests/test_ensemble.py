"""K-fold ensembles: the CLI's table and files, OOF coverage, weights, averages, re-runs."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import make_fer_csv, run_cli

from fer_keras.commands import ensemble as ensemble_command
from fer_keras.data.loading import merge_disgust
from fer_keras.experiments import blend, ensemble, kfold

MEMBERS = "a=shallow_cnn:1,b=shallow_cnn:1"
NAME = "ensemble_a-1_b-1_k2_seed0"
OPTIONS = ["--member-options", 'a={"filters": [8, 16], "dense_units": 16}',
           "--member-options", 'b={"filters": [8], "dense_units": 8}']


def argv(csv_path, out):
    return ["--data", str(csv_path), "--out", str(out), "--folds", "2", "--members", MEMBERS,
            *OPTIONS, "--set", "batch_size=8", "--verbose", "0"]


def run_main(args):
    return run_cli(ensemble_command.main, args)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One finished ensemble (2 tiny members x 2 folds, 1 epoch), shared by the tests below."""
    root = tmp_path_factory.mktemp("ensemble")
    csv_path, (_, labels, usages) = make_fer_csv(root / "fer2013.csv", n_per_class_usage=2)
    code, out, err = run_main(argv(csv_path, root / "models"))
    assert code == 0, err
    train_labels = labels[np.array(usages) == "Training"]
    return {"root": root, "csv": csv_path, "dir": root / "models" / NAME, "stdout": out,
            "train_labels": train_labels}


def fold_runs(ens_dir, label):
    return [next(p.parent for p in (ens_dir / label / f"fold{k}").glob("*/config.json"))
            for k in (1, 2)]


def test_cli_writes_the_table(built):
    ens_dir = built["dir"]
    names = ["a fold 1", "a fold 2", "a", "b fold 1", "b fold 2", "b", "plain average",
             "weighted average"]
    for name in names:
        assert f"| {name} |" in built["stdout"]
    for file in ("ensemble.md", "ensemble.json", "predictions.npz", "confusion_matrix.png",
                 "folds.npz"):
        assert (ens_dir / file).is_file()
    report = json.loads((ens_dir / "ensemble.json").read_text())
    assert [r["name"] for r in report["rows"]] == names
    assert [r["kind"] for r in report["rows"]] == ["fold"] * 2 + ["member"] + ["fold"] * 2 + [
        "member"] + ["ensemble"] * 2
    for row in report["rows"]:
        assert row["PublicTest"]["n"] == 14 and 0 <= row["PublicTest"]["macro_f1"] <= 1
        assert row["OOF"]["n"] == (7 if row["kind"] == "fold" else 14)
    assert report["best"] in {"a", "b", "plain average", "weighted average"}
    assert "PrivateTest" not in json.dumps(report["rows"])
    for label in "ab":
        for run_dir in fold_runs(ens_dir, label):
            config = json.loads((run_dir / "config.json").read_text())
            assert config["status"] == "finished" and config["head"] == "softmax"
            assert config["data_sizes"] == {"Training": 7, "PublicTest": 14}


def test_weights_are_non_negative_and_sum_to_one(built):
    weights = json.loads((built["dir"] / "ensemble.json").read_text())["weights"]
    assert set(weights) == {"a", "b"}
    assert all(w >= 0 for w in weights.values())
    assert sum(weights.values()) == pytest.approx(1)
    with np.load(built["dir"] / "predictions.npz") as saved:
        assert saved["weights"].tolist() == pytest.approx(list(weights.values()))


def test_out_of_fold_predictions_cover_every_training_row_once(built):
    n = len(built["train_labels"])
    with np.load(built["dir"] / "folds.npz") as saved:
        assert sorted(np.bincount(saved["fold"])[1:]) == [7, 7]
    for label in "ab":
        indices = []
        for run_dir in fold_runs(built["dir"], label):
            with np.load(run_dir / "predictions_none.npz") as saved:
                indices.append(saved["fold_index"])
                assert saved["oof"].shape == (len(saved["fold_index"]), 7)
        assert np.array_equal(np.sort(np.concatenate(indices)), np.arange(n))
    with np.load(built["dir"] / "predictions.npz") as saved:
        assert saved["oof"].shape == (2, n, 7) and not np.isnan(saved["oof"]).any()
        assert np.array_equal(saved["train_labels"], built["train_labels"])


def test_averages_are_means_of_the_member_probabilities(built):
    with np.load(built["dir"] / "predictions.npz") as saved:
        members, weights = saved["public"], saved["weights"]
        np.testing.assert_allclose(saved["plain"], members.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(saved["weighted"], np.tensordot(weights, members, axes=1),
                                   rtol=1e-6)
        np.testing.assert_allclose(saved["plain"].sum(axis=1), 1, rtol=1e-5)
    folds = []
    for run_dir in fold_runs(built["dir"], "a"):
        with np.load(run_dir / "predictions_none.npz") as fold:
            folds.append(fold["public"])
    np.testing.assert_allclose(members[0], np.mean(folds, axis=0), rtol=1e-6)


def refuse(*args, **kwargs):
    raise AssertionError("a finished fold run was trained again")


def test_rerun_skips_finished_fold_runs(built, monkeypatch):
    monkeypatch.setattr(kfold, "train", refuse)
    monkeypatch.setattr(kfold, "resume", refuse)
    checkpoints = [p / "best.keras" for label in "ab" for p in fold_runs(built["dir"], label)]
    before = [p.stat().st_mtime_ns for p in checkpoints]
    code, out, err = run_main(argv(built["csv"], built["root"] / "models"))
    assert code == 0, err
    assert out.count("already finished") == 4 and "| weighted average |" in out
    assert [p.stat().st_mtime_ns for p in checkpoints] == before


def test_tta_reuses_the_fold_runs(built, monkeypatch):
    monkeypatch.setattr(kfold, "train", refuse)
    monkeypatch.setattr(kfold, "resume", refuse)
    code, _, err = run_main([*argv(built["csv"], built["root"] / "models"), "--tta", "flip"])
    assert code == 0, err
    for run_dir in fold_runs(built["dir"], "a"):
        with np.load(run_dir / "predictions_flip.npz") as saved:
            np.testing.assert_allclose(saved["public"].sum(axis=1), 1, rtol=1e-5)
    assert json.loads((built["dir"] / "ensemble_flip.json").read_text())["tta"] == "flip"
    assert (built["dir"] / "confusion_matrix_flip.png").is_file()
    assert json.loads((built["dir"] / "ensemble.json").read_text())["tta"] == "none"


def test_rerun_resumes_a_killed_fold_run(built, tmp_path, monkeypatch):
    shutil.copytree(built["root"] / "models", tmp_path / "models")
    killed = fold_runs(tmp_path / "models" / NAME, "b")[1]
    config = json.loads((killed / "config.json").read_text())
    (killed / "config.json").write_text(json.dumps({**config, "status": "running"}))
    (killed / "predictions_none.npz").unlink()
    resumed, real_resume = [], kfold.resume

    def spy(run_dir, **kwargs):
        resumed.append(run_dir)
        return real_resume(run_dir, **kwargs)

    monkeypatch.setattr(kfold, "train", refuse)
    monkeypatch.setattr(kfold, "resume", spy)
    code, out, err = run_main(argv(built["csv"], tmp_path / "models"))
    assert code == 0, err
    assert resumed == [killed] and f"resuming {killed.name}" in out
    config = json.loads((killed / "config.json").read_text())
    assert config["status"] == "finished" and config["resumes"] == 1
    assert (killed / "predictions_none.npz").is_file()


def test_rerun_with_other_settings_is_refused(built):
    args = argv(built["csv"], built["root"] / "models")
    args[args.index(OPTIONS[3])] = 'b={"filters": [4], "dense_units": 8}'
    code, _, err = run_main(args)
    assert code == 2
    assert "trained with other settings: model_options=" in err and "--name" in err


def test_a_six_class_ensemble_scores_the_runs_classes(built, tmp_path):
    """With disgust merged into angry the members have six classes: so have the OOF predictions,
    the labels they are scored on and the report (the runs' classes, not FER2013's seven)."""
    code, out, err = run_main(["--data", str(built["csv"]), "--out", str(tmp_path), "--folds",
                               "2", "--members", "a=shallow_cnn:1", "--member-options",
                               'a={"filters": [8], "dense_units": 8}', "--set", "batch_size=8",
                               "--set", "merge_disgust=true", "--verbose", "0"])
    assert code == 0, err
    (ens_dir,) = tmp_path.iterdir()
    with np.load(ens_dir / "predictions.npz") as saved:
        assert saved["oof"].shape == (1, len(built["train_labels"]), 6)
        assert np.array_equal(saved["train_labels"], merge_disgust(built["train_labels"]))
    report = json.loads((ens_dir / "ensemble.json").read_text())
    per_class = report["rows"][-1]["PublicTest"]["per_class"]
    assert "disgust" not in per_class and len(per_class) == 6


def test_cli_subprocess(built, tmp_path):
    shutil.copytree(built["root"] / "models", tmp_path / "models")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "fer_keras.ensemble",
                             *argv(built["csv"], tmp_path / "models")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| plain average |" in result.stdout and "Best on PublicTest:" in result.stdout


def test_fit_weights_prefers_the_informative_member():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 200)
    good = np.full((200, 7), 0.05)
    good[np.arange(200), labels] = 0.7
    noise = rng.dirichlet(np.ones(7), 200)
    weights = blend.fit_weights([noise, good, noise[::-1]], labels)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1)
    assert weights[1] > 0.9
    fitted = blend.log_loss(labels, blend.weighted_average([noise, good, noise[::-1]], weights))
    plain = blend.log_loss(labels, blend.weighted_average([noise, good, noise[::-1]]))
    assert fitted < plain
    assert blend.fit_weights([good], labels).tolist() == [1.0]


@pytest.mark.parametrize("text, message", [
    ("shallow_cnn", "ARCH:EPOCHS"), ("nope:3", "Unknown model 'nope'"),
    ("shallow_cnn:1,shallow_cnn:2", "each label once"), ("", "at least one member")])
def test_parse_members_errors(text, message):
    with pytest.raises(ensemble.EnsembleError, match=message):
        ensemble.parse_members(text)


def test_parse_members_labels():
    members = ensemble.parse_members("shallow_cnn:3, small=shallow_cnn:1")
    assert [(m.label, m.model, m.epochs) for m in members] == [("shallow_cnn", "shallow_cnn", 3),
                                                               ("small", "shallow_cnn", 1)]
    assert ensemble.default_name(members, 4, 0) == "ensemble_shallow_cnn-3_small-1_k4_seed0"


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"head": "l2svm"}}, "softmax head"),
    ({"model_options": {"c": {}}}, "unknown members \\['c'\\]"),
    ({"model_options": {"a": {"weights": None}}}, "member a: Unknown model_options"),
    ({"folds": 1}, "at least 2"), ({"tta": "rotate"}, "Unknown TTA mode")])
def test_bad_settings_fail_before_training(kwargs, message, tmp_path):
    with pytest.raises(ensemble.EnsembleError, match=message):
        ensemble.ensemble("a=shallow_cnn:1", out=tmp_path, dataset={}, **kwargs)
    assert not any(tmp_path.iterdir())
