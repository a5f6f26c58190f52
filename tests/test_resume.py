"""Resuming runs: a real SIGKILL mid-epoch, two-phase resumption, the backup's file handling."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import pytest
from helpers import TINY_CNN, TINY_TRAINING

from fer_keras import _io, models
from fer_keras.commands import train as train_command
from fer_keras.models import get_spec
from fer_keras.models.registry import ModelSpec
from fer_keras.training import loop as fitting
from fer_keras.training import train
from fer_keras.training.resume import RunBackup

# Runs the real CLI with a callback that records progress and slows each batch down, so that the
# test can kill the process at a known point in the middle of an epoch, and that prints the
# optimizer's step count once fit() has started (after any resumption).
SLOW_CLI = """
import json, runpy, sys, time
from pathlib import Path
import keras
from fer_keras.training import loop as fitting

progress, delay = Path(sys.argv[1]), float(sys.argv[2])

class Slow(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        print("optimizer iterations", int(self.model.optimizer.iterations), flush=True)
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_begin(self, batch, logs=None):
        progress.write_text(json.dumps([self.epoch, batch]))
        time.sleep(delay)

phase_callbacks = fitting._phase_callbacks
fitting._phase_callbacks = lambda cfg: [*phase_callbacks(cfg), Slow()]
sys.argv = ["fer_keras.train", *sys.argv[3:]]
runpy.run_module("fer_keras.train", run_name="__main__")
"""


def epochs_in_history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def wait_for(condition, timeout, process):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"training exited early:\n{process.communicate()[1][-3000:]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"condition not met within {timeout} s")


def test_sigkill_mid_epoch_then_resume(csv_path, tmp_path):
    script, progress, out = tmp_path / "slow_cli.py", tmp_path / "progress.json", tmp_path / "m"
    script.write_text(SLOW_CLI)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["--data", csv_path, "--out", str(out), "--epochs", "4", "--batch-size", "2",
            "--model-options", json.dumps(TINY_CNN), "--verbose", "2", "--seed", "1"]
    # 14 Training images at batch 2: 7 batches of 0.2 s, so an epoch lasts over a second.
    process = subprocess.Popen([sys.executable, str(script), str(progress), "0.2", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def mid_epoch_after_one_finished():
        runs = list(out.glob("shallow_cnn_softmax_*"))
        if not (runs and (runs[0] / "history.csv").is_file() and progress.is_file()):
            return False
        epoch, batch = json.loads(progress.read_text() or "[0, 0]")
        return len(epochs_in_history(runs[0])) >= 1 and epoch >= 1 and 2 <= batch <= 4

    try:
        wait_for(mid_epoch_after_one_finished, timeout=600, process=process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    (run_dir,) = out.glob("shallow_cnn_softmax_*")
    killed_in_epoch = json.loads(progress.read_text())[0]
    state = json.loads((run_dir / "backup" / "state.json").read_text())
    assert state["epoch"] == killed_in_epoch  # the last finished epoch was committed, not this one
    assert json.loads((run_dir / "config.json").read_text())["status"] == "running"
    assert not (run_dir / "metrics.json").exists()

    result = subprocess.run([sys.executable, str(script), str(progress), "0", "--resume",
                             str(run_dir)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # Continued from the last finished epoch, with the optimizer's step count of that epoch...
    epochs_run = [int(n) for n in re.findall(r"^Epoch (\d+)/4", result.stdout, re.M)]
    assert epochs_run == list(range(killed_in_epoch + 1, 5))
    assert f"optimizer iterations {7 * killed_in_epoch}\n" in result.stdout
    # ...finished with its full epoch count, each epoch once in the history
    assert epochs_in_history(run_dir) == [0, 1, 2, 3]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"] == "finished" and config["resumes"] == 1
    assert config["phases"][0]["epochs_run"] == 4
    assert not (run_dir / "backup").exists() and (run_dir / "metrics.json").is_file()

    # A finished run resumed: a message, nothing retrained.
    stamp = (run_dir / "best.keras").stat().st_mtime_ns
    assert train_command.main(["--resume", str(run_dir)]) == 0
    assert (run_dir / "best.keras").stat().st_mtime_ns == stamp


class Interrupt(Exception):
    pass


def interrupt_at(epoch, batch):
    class Interrupting(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e

        def on_train_batch_end(self, b, logs=None):
            if (self.epoch, b) == (epoch, batch):
                raise Interrupt

    return Interrupting()


def test_resume_in_phase_two_keeps_phase_best_and_schedule(csv_path, tmp_path, monkeypatch):
    # shallow_cnn standing in for a transfer model: its first conv frozen in phase 1, unfrozen in 2.
    def build(*args, **kwargs):
        model = models.build_model(*args, **kwargs)
        model.get_layer("block1_conv1").trainable = False
        return model

    def fine_tune(model):
        model.get_layer("block1_conv1").trainable = True
        return model

    spec = ModelSpec("shallow_cnn", get_spec("shallow_cnn").builder, fine_tune)
    monkeypatch.setattr(fitting, "get_spec", lambda name: spec)
    monkeypatch.setattr(fitting, "build_model", build)
    phase_callbacks = fitting._phase_callbacks
    monkeypatch.setattr(fitting, "_phase_callbacks",
                        lambda cfg: [*phase_callbacks(cfg), interrupt_at(epoch=3, batch=0)])
    config = {**TINY_TRAINING, "epochs": 2, "fine_tune_epochs": 2, "learning_rate": 1e-3,
              "fine_tune_learning_rate": 1e-4, "out": str(tmp_path / "m"), "data": csv_path}
    with pytest.raises(Interrupt):
        train.train(config)
    (run_dir,) = (tmp_path / "m").glob("shallow_cnn_*")
    assert json.loads((run_dir / "backup" / "state.json").read_text())["phase"] == 2
    assert json.loads((run_dir / "config.json").read_text())["status"] == "failed"

    monkeypatch.setattr(fitting, "_phase_callbacks", phase_callbacks)
    assert train.resume(run_dir) == run_dir
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    phases = json.loads((run_dir / "config.json").read_text())["phases"]
    assert [(p["first_epoch"], p["epochs_run"]) for p in phases] == [(0, 2), (2, 2)]
    assert "block1_conv1" not in phases[0]["trainable_layers"]
    assert "block1_conv1" in phases[1]["trainable_layers"]
    # The best value survived the restart: the checkpoint is the first best epoch of the history.
    accuracies = [float(r["val_accuracy"]) for r in rows]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["best_epoch"] == accuracies.index(max(accuracies))


def test_backup_restores_history_and_best_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    header = "epoch,accuracy,loss\r\n"
    (run_dir / "history.csv").write_text(header + "0,0.1,2.0\r\n1,0.2,1.9\r\n2,0.3,1.8\r\n3,0.")
    (run_dir / "best.keras").write_text("epoch 1")
    backup = RunBackup(run_dir)
    backup.commit({"phase": 1, "epoch": 2})  # epoch 1 committed with its best checkpoint
    # replaced atomically, as BestCheckpoint does (an in-place write would reach the snapshot)
    _io.write_text(run_dir / "best.keras", "epoch 2, discarded by the kill")
    backup.restore_files(backup.load())
    assert (run_dir / "history.csv").read_bytes().decode() == header + "0,0.1,2.0\r\n1,0.2,1.9\r\n"
    assert (run_dir / "best.keras").read_text() == "epoch 1"

    backup.clear()
    backup.restore_files(None)  # killed before the first epoch ended: start afresh
    assert not (run_dir / "history.csv").exists() and not (run_dir / "best.keras").exists()


def test_resume_errors(csv_path, tmp_path, capsys):
    command = train_command.main  # as `fer-keras train` runs it: through the one error path

    assert command(["--resume", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path} is not a run directory")
    assert command(["--resume", str(tmp_path), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = {**train.resolve_config(TINY_TRAINING, data=csv_path), "status": "running"}
    (run_dir / "config.json").write_text(json.dumps(config))
    with RunBackup(run_dir).lock():  # as if the original process were still training
        assert command(["--resume", str(run_dir)]) == 2
    assert "another process is training this run" in capsys.readouterr().err
