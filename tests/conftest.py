"""Shared fixtures: small FER2013-format CSVs in tmp_path (all 7 classes, all 3 Usages).

The plain helpers behind them (CSV builders, tiny model options, a fake run, output capture) are
in `helpers.py`; test modules import those from there, never from this file.
"""

import os

import pytest
from helpers import make_fer_csv, make_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

#: What only the full run takes (``python -m pytest -m full``, which ``.ci/run`` runs after the
#: default one): tests of minutes, or of the full breadth, whose behaviour the default run also
#: covers at small scale -- every notebook top to bottom (the default run checks each is paired
#: with its script; the library calls they make have tests of their own), the wheel, the
#: distribution subprocesses, a SIGKILL mid-epoch (resume is covered by the other resume tests),
#: a search killed mid-trial and the ``python -m`` subprocess runs of the commands that load
#: TensorFlow (their mains run in-process by default, and test_cli.py starts a real command).
#: Test files, or ``file::test`` for all of a test's cases.
FULL = ("test_wheel.py", "test_distribute.py::test_mirrored_over_two_logical_cpus",
        "test_distribute.py::test_multiworker_over_loopback",
        "test_train.py::test_cli_subprocess", "test_explain.py::test_cli_subprocess",
        "test_predict.py::test_cli_subprocess", "test_ensemble.py::test_cli_subprocess",
        "test_evaluate.py::test_cli_subprocess", "test_export.py::test_cli_subprocess",
        "test_notebooks.py::test_notebook_runs_in_quick_mode",
        "test_resume.py::test_sigkill_mid_epoch_then_resume",
        "test_search.py::test_search_trains_each_pair_once_and_resumes_a_killed_trial")
#: The runs of the matrix that stay in the default run: a whole-face, an SVC and a cropped and
#: equalised run through every consumer (an eight-class run's consumers: tests/test_ferplus.py).
DEFAULT_MATRIX_RUNS = ("softmax", "svc", "hist_crop_flip")


def _full(item) -> bool:
    file = item.path.name
    if file == "test_run_matrix.py":
        params = getattr(item, "callspec", None) and item.callspec.params
        return bool(params) and params.get("name") not in DEFAULT_MATRIX_RUNS
    return file in FULL or f"{file}::{item.originalname}" in FULL


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _full(item):
            item.add_marker(pytest.mark.full)


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
    from fer_keras.evaluation import packaged

    root = tmp_path / "pretrained"
    model = make_run(tmp_path / "runs", head="softmax", equalize=None, crop=40)
    root.mkdir()
    model.rename(root / packaged.DEFAULT_MODEL)
    monkeypatch.setattr(packaged, "PRETRAINED_ROOT", root)
    return root / packaged.DEFAULT_MODEL
