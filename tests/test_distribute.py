"""tf.distribute: MirroredStrategy over two logical CPUs, MultiWorkerMirroredStrategy over loopback.

Both run in subprocesses: logical devices and collective ops can only be configured before
TensorFlow starts, which it already has in the pytest process.
"""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import TINY_CNN

from fer_keras.evaluation.run_files import read_history
from fer_keras.training import distribute

TINY_ARGS = ["--epochs", "2", "--batch-size", "4", "--verbose", "0", "--seed", "3",
             "--model-options", json.dumps(TINY_CNN)]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
TIMEOUT = 600  # seconds; generous because a busy machine makes TensorFlow slow to start

# Splits the CPU into two logical devices, trains through the real CLI with --strategy mirrored,
# and reports whether every replica of every variable (weights, BatchNormalization statistics,
# optimizer slots) holds the same value at the end.
MIRRORED = """
import json, runpy, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from fer_keras.training import loop as fitting
report_path = sys.argv[1]
built = []
build_model = fitting.build_model
fitting.build_model = lambda *a, **k: built.append(build_model(*a, **k)) or built[-1]
sys.argv = ["fer_keras.train", *sys.argv[2:]]
try:
    runpy.run_module("fer_keras.train", run_name="__main__")
except SystemExit as exit:
    assert not exit.code, exit.code
model = built[0]
report = {}
for v in model.variables + model.optimizer.variables:
    replicas = [r.numpy() for r in model.distribute_strategy.experimental_local_results(v.value)]
    report[v.path] = [len(replicas), all(np.array_equal(replicas[0], r) for r in replicas)]
with open(report_path, "w") as f:
    json.dump(report, f)
"""


def test_strategy_choices_and_worker_index(monkeypatch):
    with pytest.raises(ValueError, match="Accepted values: auto, mirrored, multiworker"):
        distribute.make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        distribute.make_strategy("multiworker")
    assert distribute.worker_index() == 0
    assert distribute.make_strategy("auto").num_replicas_in_sync == 1  # no GPUs here
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    for task, index in (({"type": "chief", "index": 0}, 0), ({"type": "worker", "index": 1}, 2)):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        assert distribute.worker_index() == index


def test_mirrored_over_two_logical_cpus(csv_path, tmp_path):
    script, report = tmp_path / "mirrored.py", tmp_path / "report.json"
    script.write_text(MIRRORED)
    result = subprocess.run(
        [sys.executable, str(script), str(report), "--data", csv_path, "--out", str(tmp_path),
         "--strategy", "mirrored", *TINY_ARGS],
        capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    replicas = json.loads(report.read_text())
    assert {n for n, _ in replicas.values()} == {2}
    assert "dense_bn/moving_mean" in replicas  # the statistics Keras leaves per replica
    assert [name for name, (_, same) in replicas.items() if not same] == []
    (run_dir,) = tmp_path.glob("shallow_cnn_softmax_*")
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["status"], config["replicas"], config["global_batch_size"]) == (
        "finished", 2, 8)


def free_ports(n):
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_multiworker_over_loopback(csv_path, tmp_path):
    try:
        ports = free_ports(2)
    except OSError as err:
        pytest.skip(f"no loopback interface to run two workers on: {err}")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "fer_keras.train", "--data", csv_path, "--out",
             str(tmp_path / "m"), "--strategy", "multiworker", *TINY_ARGS],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**ENV, "TF_CONFIG": tf_config}))
    deadline = time.monotonic() + TIMEOUT
    try:
        outputs = [w.communicate(timeout=max(1.0, deadline - time.monotonic())) for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, (_, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]

    (other,) = (tmp_path / "m").glob("shallow_cnn_softmax_*_worker1")
    (chief,) = set((tmp_path / "m").glob("shallow_cnn_softmax_*")) - {other}
    models = [keras.saving.load_model(run / "best.keras") for run in (chief, other)]
    for a, b in zip(*(m.weights for m in models)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    configs = [json.loads((run / "config.json").read_text()) for run in (chief, other)]
    assert [c["replicas"] for c in configs] == [2, 2]
    histories = [read_history(run / "history.csv") for run in (chief, other)]
    for history in histories:  # each worker's own clock
        assert len(history.pop("fit_minutes")) == len(history["epoch"])
    assert histories[0] == histories[1]
