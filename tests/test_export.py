"""Export to SavedModel, TFLite (float, int8) and ONNX, each checked against Keras on real faces."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_predict import make_run

from fer_keras.data.loading import load_dataset, sample_path
from fer_keras.data.pipeline import equalize_images
from fer_keras.evaluation.evaluate import load_run
from fer_keras.inference import export
from fer_keras.models import heads


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
        "feature_layer": heads.FEATURE_LAYER, "features_from": f"../{softmax.name}"}))
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
    out = runs["softmax"] / f"best{export._SUFFIX[fmt]}"
    assert report["path"] == str(out) and out.exists()
    assert report["equalize"] == "hist" and report["head"] == "softmax"
    assert json.loads(out.with_name(out.name + ".json").read_text()) == report
    assert not [p for p in runs["softmax"].iterdir() if p.name.startswith(".")]  # no temp files


def test_int8_tflite_reports_its_accuracy_change(runs, tmp_path):
    report = export.export_model(runs["softmax"], "tflite", tmp_path / "q.tflite",
                                 quantize="int8")
    p = report["parity"]
    assert p["passed"] is None and p["tolerance"] is None and report["quantize"] == "int8"
    assert p["accuracy_change"] == pytest.approx(p["accuracy_export"] - p["accuracy_keras"])
    assert 0.0 < p["max_abs_diff"] < 0.5 and 0.0 <= p["agreement"] <= 1.0
    float_size = (runs["softmax"] / "best.keras").stat().st_size
    assert (tmp_path / "q.tflite").stat().st_size < float_size / 2  # 8-bit weights
    assert "accuracy" in export.format_report(report)


def test_frozen_feature_head_is_joined_into_one_graph(runs, tmp_path):
    report = export.export_model(runs["l2svm"], "tflite", tmp_path / "l2svm.tflite")
    assert report["parity"]["passed"] and report["head"] == "l2svm"
    model, config, _ = export.load_graph_model(runs["l2svm"])
    faces = load_dataset(sample_path())["PublicTest"][0][:16]
    joined = model.predict_on_batch(equalize_images(faces, "hist").astype("float32")[..., None])
    np.testing.assert_allclose(joined, load_run(runs["l2svm"]).scores(faces), atol=1e-5)


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
    out = tmp_path / "network.tflite"
    assert export.main([str(runs["svc"] / "best.keras"), "--format", "tflite", "--out",
                        str(out)]) == 0
    assert "parity PASSED on 401 PublicTest faces" in capsys.readouterr().out
    assert out.is_file()
    assert export.main([str(runs["svc"]), "--format", "tflite"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.slow
def test_cli_subprocess(runs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "fer_keras.export", str(runs["softmax"]),
                           "--format", "saved_model", "--out", str(tmp_path / "sm")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "parity PASSED" in done.stdout and (tmp_path / "sm" / "saved_model.pb").is_file()


def test_crop_network_exports_with_its_ten_crop_views(tmp_path):
    """A 40-px crop run (as cpu_fast) exports as one graph of whole faces with its TTA inside."""
    import keras

    from fer_keras.evaluation import tta
    from fer_keras.models import build_model
    keras.utils.set_random_seed(2)
    run = tmp_path / "crop_run"
    run.mkdir()
    network = build_model("shallow_cnn", input_shape=(40, 40, 1), filters=[8, 16],
                          dense_units=16)
    network.save(run / "best.keras")
    (run / "config.json").write_text(json.dumps({"model": "shallow_cnn", "head": "softmax",
                                                 "crop": 40, "tta": "tencrop"}))
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
