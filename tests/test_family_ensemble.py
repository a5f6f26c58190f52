"""Full-Training ensemble families: members trained once, averaged in one graph, re-runs resumed."""

import shutil
import zipfile

import numpy as np
import pytest
from helpers import TINY_CNN, make_fer_csv, run_cli

from fer_keras import _io
from fer_keras.commands import ensemble
from fer_keras.evaluation.run_dir import load_run
from fer_keras.experiments import families, kfold
from fer_keras.experiments.family_ensemble import family_ensemble

#: Every member tiny: one epoch of the tiny CNN, whatever the family's recipe says.
TINY = ["--set", "epochs=1", "--set", "batch_size=8", "--set", "augment=false",
        "--set", f"model_options.filters={TINY_CNN['filters']}".replace(" ", ""),
        "--set", f"model_options.dense_units={TINY_CNN['dense_units']}"]
LABELS = list(families.FAMILIES["cpu_fast3"].members)


def run_main(args):
    return run_cli(ensemble.main, args)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("family")
    csv, (_, labels, usages) = make_fer_csv(root / "fer2013.csv", n_per_class_usage=2)
    code, out, err = run_main(["--family", "cpu_fast3", "--data", str(csv), "--out",
                               str(root / "models"), "--verbose", "0", *TINY])
    assert code == 0, err
    return {"root": root, "csv": csv, "dir": root / "models" / "ensemble_cpu_fast3_seed0",
            "stdout": out, "public": labels[np.array(usages) == "PublicTest"]}


def weights_size(keras_file):
    with zipfile.ZipFile(keras_file) as archive:
        return archive.getinfo("model.weights.h5").file_size


def member_dir(ens_dir, label):
    return next(p.parent for p in (ens_dir / label).glob("*/config.json"))


def test_members_follow_the_family(built):
    for label, member in families.FAMILIES["cpu_fast3"].members.items():
        config = _io.read_json(member_dir(built["dir"], label) / "config.json")
        assert config["status"] == "finished" and config["recipe"] == "cpu_fast"
        assert config["seed"] == member["seed"] and config["mixed_precision"] is True
        assert config["crop"] == member.get("crop", 40)
        assert config["tta"] == member["tta"]
        assert config["data_sizes"]["Training"] == 14  # all of Training, no folds


def test_the_folder_is_a_run_whose_graph_averages_the_members(built):
    ens = load_run(built["dir"])
    assert ens.softmax and ens.tta_mode() == "none" and ens.model.input_shape == (None, 48, 48, 1)
    faces = np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    members = [load_run(member_dir(built["dir"], label)) for label in LABELS]
    mean = np.mean([m.scores(faces, tta=m.tta_mode()) for m in members], axis=0)
    np.testing.assert_allclose(ens.scores(faces), mean, atol=2e-2)  # bfloat16 members
    assert [m["label"] for m in ens.config["members"]] == LABELS
    # an inference graph: the members' weights without their optimizer state (AdamW's 2 slots)
    weights = [weights_size(m.run_dir / "best.keras") for m in members]
    assert weights_size(built["dir"] / "best.keras") < 0.6 * sum(weights)


def test_table_rows_pairs_and_files(built):
    report = _io.read_json(built["dir"] / "ensemble.json")
    rows = report["rows"]
    assert [r["name"] for r in rows] == [*LABELS, "average"]
    assert [r["tta"] for r in rows[:3]] == ["tencrop", "tencrop", "flip"]
    assert all(r["PublicTest"]["n"] == len(built["public"]) for r in rows)
    # the average row is the average of the members' saved probabilities
    saved = [np.load(member_dir(built["dir"], label) / f"public_{r['tta']}.npz")["public"]
             for label, r in zip(LABELS, rows, strict=False)]
    average = np.mean(saved, axis=0).argmax(1)
    assert rows[-1]["PublicTest"]["accuracy"] == pytest.approx(
        np.mean(average == built["public"]))
    pairs = report["pairs"]
    assert [p["members"] for p in pairs] == [LABELS[:2], [LABELS[0], LABELS[2]], LABELS[1:]]
    for pair in pairs:
        a, b = (saved[LABELS.index(m)].argmax(1) for m in pair["members"])
        assert pair["disagreement"] == pytest.approx(np.mean(a != b))
    markdown = (built["dir"] / "ensemble.md").read_text()
    assert "Members two by two" in markdown and "| average |" in markdown
    for name in ("best.keras", "config.json", "metrics.json", "confusion_matrix.png"):
        assert (built["dir"] / name).is_file()
    metrics = _io.read_json(built["dir"] / "metrics.json")
    assert metrics["max_difference_from_numpy_average"] < 2e-2
    assert "average" in built["stdout"] and "Written:" in built["stdout"]


def test_rerun_skips_finished_members(built, monkeypatch):
    before = {label: member_dir(built["dir"], label) for label in LABELS}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(kfold, "train", no_training)
    code, out, err = run_main(["--family", "cpu_fast3", "--data", str(built["csv"]), "--out",
                               str(built["dir"].parent), "--verbose", "0", *TINY])
    assert code == 0, err
    assert out.count("already finished") == 3
    assert {label: member_dir(built["dir"], label) for label in LABELS} == before


def test_a_copied_finished_run_counts_as_the_member(built, tmp_path):
    out = tmp_path / "models"
    for label in LABELS[:2]:
        shutil.copytree(member_dir(built["dir"], label).parent,
                        out / "ensemble_cpu_fast3_seed0" / label)
    result = family_ensemble("cpu_fast3", changes={"epochs": 1, "batch_size": 8,
                                                   "augment": False, "model_options": TINY_CNN},
                             data_path=built["csv"], out=out, verbose=0)
    for label in LABELS[:2]:
        assert member_dir(result["dir"], label).name == member_dir(built["dir"], label).name


def test_a_member_trained_otherwise_is_refused(built, tmp_path):
    code, out, err = run_main(["--family", "cpu_fast3", "--data", str(built["csv"]), "--out",
                               str(built["dir"].parent), "--verbose", "0", *TINY,
                               "--set", "dropout_rate=0.1"])
    assert code == 2 and "error:" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_main(["--family", "cpu_fast3", "--data", str(built["csv"]), "--out",
                               str(built["dir"].parent), "--verbose", "0", *TINY,
                               "--set", "learning_rate=0.5"])
    assert code == 2 and "was trained with other settings" in err
    assert "learning_rate" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, message", [
    (["--folds", "3"], "drop --folds"),
    (["--tta", "flip"], "drop --tta"),
    (["--recipe", "cpu_fast"], "drop --recipe"),
])
def test_family_flag_errors(flags, message, tmp_path):
    code, out, err = run_main(["--family", "cpu_fast3", "--data", "x.csv", "--out",
                               str(tmp_path), *flags])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_unknown_family_lists_the_families(capsys):
    with pytest.raises(SystemExit) as exit_:
        ensemble.main(["--family", "nope"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "invalid choice: 'nope' (choose from 'cpu_fast3')" in err


def test_member_configs_shift_seeds_and_take_changes():
    configs = families.member_configs("cpu_fast3", {"max_minutes": 5}, seed=10)
    assert [c["seed"] for c in configs.values()] == [10, 11, 12]
    assert all(c["max_minutes"] == 5 for c in configs.values())
    assert configs["whole_seed2"]["crop"] is None and configs["crops_seed0"]["crop"] == 40
    with pytest.raises(ValueError, match="Unknown family 'x'. Accepted values: cpu_fast3"):
        families.member_configs("x")
