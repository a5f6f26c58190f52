"""Export to SavedModel, TFLite (float, int8) and ONNX, each checked against Keras on real faces."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import fer_lines, make_run, write_csv

from fer_keras.commands import export as export_command
from fer_keras.data.loading import load_dataset, sample_path
from fer_keras.data.pipeline import equalize_images
from fer_keras.evaluation.evaluate import load_run
from fer_keras.inference import export
from fer_keras.models import heads, names


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Softmax, SVC and frozen-feature L2-SVM runs (the last on the softmax run's network)."""
    root = tmp_path_factory.mktemp("export")
    softmax, svc = make_run(root, "softmax"), make_run(root, "svc", equalize=None)
    faces = load_dataset(sample_path())["Training"][0][:100]
    network = load_run(softmax).model
    head = heads.l2svm_on_features(heads.extract_features(network,
                                                          equalize_images(faces, "hist")))
    l2svm = root / "shallow_cnn_l2svm_features"
    l2svm.mkdir()
    head.save(l2svm / "head.keras")
    (l2svm / "config.json").write_text(json.dumps({
        "model": "shallow_cnn", "head": "l2svm", "equalize": "hist",
        "feature_layer": names.FEATURE_LAYER, "features_from": f"../{softmax.name}"}))
    return {"softmax": softmax, "svc": svc, "l2svm": l2svm}


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_float_export_parity(fmt, runs):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx", reason="ONNX export needs the optional tf2onnx")
        pytest.importorskip("onnxruntime", reason="ONNX parity needs the optional onnxruntime")
    report = export.export_model(runs["softmax"], fmt)
    p = report["parity"]
    assert p["passed"] and p["predictions_equal"] and p["max_abs_diff"] <= export.TOLERANCE
    assert p["n"] == 401 and p["split"] == "PublicTest" and p["accuracy_change"] == 0.0
    out = runs["softmax"] / export.export_name(fmt)  # model.tflite, model.onnx, saved_model/
    assert report["path"] == str(out) and out.exists()
    assert report["equalize"] == "hist" and report["head"] == "softmax"
    assert json.loads(out.with_name(out.name + ".json").read_text()) == report
    assert not [p for p in runs["softmax"].iterdir() if p.name.startswith(".")]  # no temp files


def test_int8_tflite_reports_its_accuracy_change(runs, tmp_path):
    report = export.export_model(runs["softmax"], "tflite", tmp_path, quantize="int8")
    assert report["path"] == str(tmp_path / "model_int8.tflite")  # beside a float model.tflite
    p = report["parity"]
    assert p["passed"] is None and p["tolerance"] is None and report["quantize"] == "int8"
    assert p["accuracy_change"] == pytest.approx(p["accuracy_export"] - p["accuracy_keras"])
    assert 0.0 < p["max_abs_diff"] < 0.5 and 0.0 <= p["agreement"] <= 1.0
    float_size = (runs["softmax"] / "best.keras").stat().st_size
    assert (tmp_path / "model_int8.tflite").stat().st_size < float_size / 2  # 8-bit weights
    assert "accuracy" in export.format_report(report)


def test_frozen_feature_head_is_joined_into_one_graph(runs, tmp_path):
    report = export.export_model(runs["l2svm"], "tflite", tmp_path)
    assert report["parity"]["passed"] and report["head"] == "l2svm"
    assert (tmp_path / "model.tflite").is_file() and (tmp_path / "model.tflite.json").is_file()
    # its Normalization's adapted mean and variance are constants of the ONNX graph, not inputs
    assert export.export_model(runs["l2svm"], "onnx", tmp_path)["parity"]["passed"]
    model, config, _ = export.load_graph_model(runs["l2svm"])
    faces = load_dataset(sample_path())["PublicTest"][0][:16]
    joined = model.predict_on_batch(equalize_images(faces, "hist").astype("float32")[..., None])
    np.testing.assert_allclose(joined, load_run(runs["l2svm"]).scores(faces), atol=1e-5)


def test_parity_tolerance_grows_with_large_scores():
    labels = np.array([0, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert export.parity(probs, probs + 5e-5, labels, 1e-4)["passed"]
    assert not export.parity(probs, probs + 2e-4, labels, 1e-4)["passed"]
    margins = probs * 8e4  # L2-SVM margins of thousands: float32 rounds them by ~1e-2
    p = export.parity(margins, margins + 0.5, labels, 1e-4)
    assert p["passed"] and p["scale"] == 72000.0
    assert not export.parity(margins, margins + 10.0, labels, 1e-4)["passed"]
    assert not export.parity(probs, probs[:, ::-1], labels, 1e-4)["passed"]


def test_what_cannot_be_exported(runs, tmp_path):
    with pytest.raises(ValueError, match="SVC head"):
        export.export_model(runs["svc"], "tflite")
    with pytest.raises(ValueError, match="int8 is for tflite"):
        export.export_model(runs["softmax"], "saved_model", quantize="int8")
    with pytest.raises(ValueError, match="Unknown format"):
        export.export_model(runs["softmax"], "coreml")
    with pytest.raises(FileNotFoundError, match="No model at"):
        export.export_model(tmp_path / "nothing", "tflite")


def test_cli(runs, tmp_path, capsys):
    out = tmp_path / "network"
    assert export_command.main([str(runs["svc"] / "best.keras"), "--format", "tflite", "--out",
                        str(out)]) == 0
    assert "parity PASSED on 401 PublicTest faces" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["model.tflite", "model.tflite.json"]
    assert export_command.main(["--model", str(runs["svc"] / "best.keras"), "--format", "tflite",
                        "--out", str(out)]) == 0
    assert "parity PASSED" in capsys.readouterr().out
    assert export_command.main([str(runs["svc"]), "--format", "tflite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {runs['svc']}: cannot be exported: its SVC head")
    assert err.count("\n") == 1 and str(runs["svc"] / "best.keras") in err


@pytest.mark.slow
def test_cli_subprocess(runs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "fer_keras.export", str(runs["softmax"]),
                           "--format", "saved_model", "--out", str(tmp_path / "sm")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "parity PASSED" in done.stdout
    assert (tmp_path / "sm" / "saved_model" / "saved_model.pb").is_file()


def test_crop_network_exports_with_its_ten_crop_views(tmp_path):
    """A 40-px crop run (as cpu_fast) exports as one graph of whole faces with its TTA inside."""
    import keras

    from fer_keras.evaluation import tta
    run = make_run(tmp_path, head="softmax", equalize=None, seed=2, crop=40)
    network = keras.saving.load_model(run / "best.keras")
    report = export.export_model(run, "tflite")
    assert report["parity"]["passed"] and report["tta"] == "tencrop"
    model, config, _ = export.load_graph_model(run)
    assert model.input_shape == (None, 48, 48, 1) and config["tta"] == "tencrop"
    faces = load_dataset(sample_path())["PublicTest"][0][:8]
    expected = tta.tta_scores(
        lambda v: network.predict(v[..., None].astype("float32"), verbose=0), faces, "tencrop", 40)
    np.testing.assert_allclose(model.predict_on_batch(faces[..., None].astype("float32")),
                               expected, atol=1e-5)
    center, _, _ = export.load_graph_model(run, tta="none")
    assert center.input_shape == (None, 48, 48, 1)


def test_a_packaged_model_exports_here_with_its_own_views(packaged_model, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in packaged_model.iterdir())
    assert export_command.main(["--format", "tflite"]) == 0  # the default, packaged model
    assert "parity PASSED" in capsys.readouterr().out
    report = json.loads((tmp_path / "model.tflite.json").read_text())
    assert report["tta"] == "tencrop" and report["path"] == str(tmp_path / "model.tflite")
    assert sorted(p.name for p in packaged_model.iterdir()) == before  # nothing written there
    report = export.export_model("cpu_fast", "tflite", tmp_path / "center", tta="none")
    assert report["tta"] == "none" and (tmp_path / "center" / "model.tflite").is_file()
    assert sorted(p.name for p in packaged_model.iterdir()) == before


@pytest.fixture(scope="module")
def real_faces(tmp_path_factory):
    """A CSV of 70 real faces of the embedded sample (64 PublicTest): parity on real faces at a
    sixth of the time of the whole sample's 401."""
    dataset = load_dataset(sample_path())
    (train, train_labels), (val, val_labels) = dataset["Training"], dataset["PublicTest"]
    lines = (fer_lines(train[:6], train_labels[:6], ["Training"] * 6)
             + fer_lines(val[:64], val_labels[:64], ["PublicTest"] * 64))
    return write_csv(tmp_path_factory.mktemp("real") / "faces.csv", lines)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_the_packaged_default_model_exports_with_parity(fmt, real_faces, tmp_path):
    """The model that ships (cpu_fast: 40-px crops, mixed bfloat16, a flip in its graph) is
    exported on every run of the suite, so a new default cannot silently break its exports."""
    report = export.export_model(None, fmt, tmp_path, data_path=real_faces)  # the real package
    p = report["parity"]
    assert p["passed"] and p["n"] == 64 and p["max_abs_diff"] <= export.TOLERANCE, p
    assert report["tta"] == "flip" and report["trained_dtype"] == "mixed_bfloat16"
    rebuild = report["float32_rebuild"]  # float32 predicts as the bfloat16 network it was
    assert rebuild["agreement"] >= 0.95 and abs(
        rebuild["accuracy_export"] - rebuild["accuracy_keras"]) <= 0.05, rebuild
    assert (tmp_path / export.export_name(fmt)).is_file()
