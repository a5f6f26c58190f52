"""Fraction sweeps: one run per fraction, rows from the runs, reuse on a second call, the figure."""

import pytest
from helpers import make_fer_csv
from matplotlib.figure import Figure

from fer_keras.data import loading as data
from fer_keras.experiments.kfold import StaleRunError
from fer_keras.experiments.sweep import fraction_sweep, plot_fraction_sweep

TINY = {"model": "bst261_cnn", "model_options": {"filters": [4], "convs_per_block": 1,
                                                 "dense_units": [6, 6]},
        "epochs": 1, "batch_size": 16, "verbose": 0, "max_minutes": None}


@pytest.fixture
def dataset(tmp_path):
    return data.load_dataset(make_fer_csv(tmp_path / "fer2013.csv", n_per_class_usage=4)[0])


def test_sweep_rows_reuse_and_figure(dataset, tmp_path):
    out = tmp_path / "sweep"
    rows = fraction_sweep(TINY, [0.5, 1.0], dataset=dataset, out=out)
    assert [r["fraction"] for r in rows] == [0.5, 1.0]
    assert [r["train_images"] for r in rows] == [14, 28]
    assert {r["classes"] for r in rows} == {7} and {r["epochs"] for r in rows} == {1}
    assert all(0 <= r["accuracy"] <= 1 and r["fit_seconds"] > 0 for r in rows)
    assert sorted(p.name for p in out.iterdir()) == ["subset_0.5", "subset_1"]

    again = fraction_sweep({**TINY, "verbose": 2}, [1.0, 0.5], dataset=dataset, out=out)
    assert [r["run_dir"] for r in again] == [rows[1]["run_dir"], rows[0]["run_dir"]]
    assert all(len(list(f.iterdir())) == 1 for f in out.iterdir())  # nothing trained again

    fig = plot_fraction_sweep(rows, title="tiny")
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_six_classes_and_other_settings_or_data_are_refused(dataset, tmp_path):
    out, six = tmp_path / "sweep", {**TINY, "merge_disgust": True}
    (row,) = fraction_sweep(six, [0.5], dataset=dataset, out=out)
    assert row["classes"] == 6
    with pytest.raises(StaleRunError, match="epochs=1 there, 2 here"):
        fraction_sweep({**six, "epochs": 2}, [0.5], dataset=dataset, out=out)
    with pytest.raises(StaleRunError, match="merge_disgust=True there, False here"):
        fraction_sweep(TINY, [0.5], dataset=dataset, out=out)
    x, y = dataset["Training"]
    fewer = {**dataset, "Training": (x[:21], y[:21])}
    with pytest.raises(StaleRunError, match="other data: 14 Training images there, 10 here"):
        fraction_sweep(six, [0.5], dataset=fewer, out=out)
