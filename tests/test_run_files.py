"""The run directory as one object: its writers keep the files' format, its readers (RunRecord,
Run) give config, metrics, history, classes and labels, without Keras for a record."""

import json

import numpy as np
import pytest

from fer_keras import CLASS_NAMES
from fer_keras._io import ModelFileError
from fer_keras.evaluation.packaged import PRETRAINED_ROOT, packaged_models
from fer_keras.evaluation.run_files import (
    RunRecord,
    find_runs,
    is_run,
    make_run_dir,
    read_config,
    read_history,
    read_metrics,
    read_run,
    write_config,
    write_metrics,
)

HISTORY = "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.25,1.9,0.3,1.8\n1,0.5,1.5,,1.6\n"


@pytest.mark.parametrize("name", packaged_models())
def test_the_writers_keep_the_format_of_the_packaged_runs(name, tmp_path):
    """config.json and metrics.json written back are byte for byte the files shipped."""
    packaged = PRETRAINED_ROOT / name
    write_config(tmp_path, read_config(packaged))
    write_metrics(tmp_path, read_metrics(packaged))
    for file in ("config.json", "metrics.json"):
        assert (tmp_path / file).read_bytes() == (packaged / file).read_bytes(), file


def test_a_packaged_record():
    """(tests/test_api.py reads one in a process that never loads Keras.)"""
    run = read_run("cpu_fast")
    assert run.packaged and run.tta_mode() == run.config["tta"] and run.class_names == CLASS_NAMES
    assert run.history == {} and run.metrics["PublicTest"]["accuracy"] > 0.6
    assert run.output_dir() != run.run_dir and run.data_path() is None


def test_a_record_gives_metrics_history_phases_classes_and_labels(tmp_path):
    run_dir = make_run_dir(tmp_path, "shallow_cnn", "softmax")
    config = {"model": "shallow_cnn", "merge_disgust": True, "status": "finished",
              "phases": [{"first_epoch": 0}, {"first_epoch": 3}]}
    write_config(run_dir, config)
    run = read_run(run_dir)
    assert isinstance(run, RunRecord) and run.config == config and run.run_dir == run_dir
    assert run.metrics == {} and run.history == {}  # none written yet
    write_metrics(run_dir, {"PublicTest": {"accuracy": 0.5}, "fit_seconds": 1.5})
    (run_dir / "history.csv").write_text(HISTORY)
    assert run.metrics == {"PublicTest": {"accuracy": 0.5}, "fit_seconds": 1.5}
    history = run.history
    assert history["accuracy"] == [0.25, 0.5] and np.isnan(history["val_accuracy"][1])
    assert read_history(run_dir / "history.csv")["val_loss"] == [1.8, 1.6]  # the file itself
    assert run.phase_starts == [3]
    assert run.class_names == ("angry", "fear", "happy", "sad", "surprise", "neutral")
    assert run.labels(np.arange(7)).tolist() == [0, 0, 1, 2, 3, 4, 5]
    assert read_run(tmp_path / run_dir.name).config == config


def test_a_keras_file_alone_is_a_record_with_an_empty_config(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not read: a record loads no model")
    run = read_run(tmp_path / "model.keras")
    assert run.run_dir == tmp_path and run.config == {} and run.metrics == {}
    assert run.class_names == CLASS_NAMES and run.labels(np.arange(7)).tolist() == list(range(7))


def test_reading_a_missing_or_damaged_run_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a run directory \(no config.json\)\.$"):
        read_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        read_run(tmp_path)
    (tmp_path / "config.json").write_text('{"model": ')
    with pytest.raises(ModelFileError, match="config.json: not valid JSON"):
        read_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not a run config"):
        read_run(tmp_path)
    (tmp_path / "metrics.json").write_text("{")
    with pytest.raises(ModelFileError, match="metrics.json: not valid JSON"):
        read_metrics(tmp_path)


def test_runs_are_found_in_name_order(tmp_path):
    for name in ("b_run", "a_run", "c_no_config"):
        (tmp_path / name).mkdir()
    for name in ("b_run", "a_run"):
        write_config(tmp_path / name, {"model": name})
    assert find_runs(tmp_path) == [tmp_path / "a_run", tmp_path / "b_run"]
    assert find_runs(tmp_path, "b_*") == [tmp_path / "b_run"]
    assert is_run(tmp_path / "a_run") and not is_run(tmp_path / "c_no_config")


def test_a_loaded_run_is_its_record_with_the_model():
    from fer_keras import load_run

    run = load_run("cpu_fast", compile=False)
    packaged = PRETRAINED_ROOT / "cpu_fast"
    assert isinstance(run, RunRecord)
    assert run.metrics == json.loads((packaged / "metrics.json").read_text())
    assert run.config == read_run("cpu_fast").config and run.history == {}
    assert run.model.output_shape == (None, len(run.class_names))
