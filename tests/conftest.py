"""Shared fixtures: small FER2013-format CSVs in tmp_path (all 7 classes, all 3 Usages).

The plain helpers behind them (CSV builders, tiny model options, a fake run, output capture) are
in `helpers.py`; test modules import those from there, never from this file.
"""

import os

import pytest
from helpers import make_fer_csv, make_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def fer_csv(tmp_path):
    """(path, (images, labels, usages)) of a CSV with 2 rows of every class in every Usage."""
    return make_fer_csv(tmp_path / "fer2013.csv")


@pytest.fixture
def csv_path(tmp_path):
    """The path (str) of a CSV with 2 rows of every class in every Usage: 14 per split."""
    return str(make_fer_csv(tmp_path / "fer2013.csv", n_per_class_usage=2)[0])


@pytest.fixture
def packaged_model(tmp_path, monkeypatch):
    """A fake root of packaged models holding ``cpu_fast`` (the default name): an untrained 40-px
    crop network whose own TTA mode is ``tencrop``; the real package is never touched."""
    from fer_keras.evaluation import run_dir

    root = tmp_path / "pretrained"
    model = make_run(tmp_path / "runs", head="softmax", equalize=None, crop=40)
    root.mkdir()
    model.rename(root / run_dir.DEFAULT_MODEL)
    monkeypatch.setattr(run_dir, "PRETRAINED_ROOT", root)
    return root / run_dir.DEFAULT_MODEL
