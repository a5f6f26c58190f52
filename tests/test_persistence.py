"""Safe persistence: safe_mode .keras loading, the pickle-free SVC head, one-line errors."""

import io
import json
import os
import stat
import zipfile

import h5py
import keras
import numpy as np
import pytest
from helpers import TINY_CNN, make_run, tiny_model_options

from fer_keras.commands import evaluate as evaluate_command
from fer_keras.models import build_model, heads, list_models, names
from fer_keras.models.saving import (
    ModelFileError,
    compute_dtype,
    float32_model,
    load_model_file,
)
from fer_keras.training import loop as fitting
from fer_keras.training import train


def layers_of(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from layers_of(layer)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A compiled tiny shallow_cnn saved as .keras, as training saves it."""
    path = tmp_path_factory.mktemp("saved") / "best.keras"
    model = build_model("shallow_cnn", **TINY_CNN)
    fitting._compile(model, train.resolve_config(), 1e-3, 10)
    model.save(path)
    return path


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("head", names.NETWORK_HEADS)
def test_every_model_and_head_loads_in_safe_mode(name, head, tmp_path):
    model = build_model(name, head=head, **tiny_model_options(name))
    assert not [lyr.name for lyr in layers_of(model) if isinstance(lyr, keras.layers.Lambda)]
    fitting._compile(model, train.resolve_config(model=name, head=head), 1e-3, 10)
    model.save(tmp_path / "m.keras")
    loaded = load_model_file(tmp_path / "m.keras")  # safe_mode=True
    assert isinstance(loaded.loss, type(model.loss))
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", list_models())
def test_a_mixed_precision_network_rebuilds_in_float32(name, tmp_path):
    """Same weights, every layer in float32 (nested bases too), the bfloat16 scores to ~1e-2."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model(name, **tiny_model_options(name))
    finally:
        keras.config.set_dtype_policy(previous)
    model.save(tmp_path / "m.keras")
    mixed = load_model_file(tmp_path / "m.keras")
    assert compute_dtype(mixed) == "mixed_bfloat16"
    rebuilt = float32_model(mixed)
    assert compute_dtype(rebuilt) == "float32" and rebuilt.name == mixed.name
    assert all(lyr.dtype_policy.name == "float32" for lyr in layers_of(rebuilt))
    for a, b in zip(mixed.weights, rebuilt.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = np.random.default_rng(0).uniform(0, 255, (4, *mixed.input_shape[1:])).astype("float32")
    reference = rebuilt.predict(x, verbose=0)
    assert reference.dtype == np.float32
    np.testing.assert_allclose(mixed.predict(x, verbose=0), reference, atol=0.05)
    assert float32_model(rebuilt) is rebuilt  # a float32 model is returned as it is


def test_float32_rebuild_keeps_an_adapted_normalization(tmp_path):
    """The frozen-feature L2-SVM head standardises with statistics adapted to the features; the
    rebuild must carry them (set_weights alone leaves its mean 0 and variance 1)."""
    rng = np.random.default_rng(0)
    features = rng.normal(50, 20, size=(40, 5)).astype("float32")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        head = heads.l2svm_on_features(features, 7)
    finally:
        keras.config.set_dtype_policy(previous)
    head.save(tmp_path / "head.keras")
    mixed = load_model_file(tmp_path / "head.keras", num_classes=None)
    rebuilt = float32_model(mixed)
    assert compute_dtype(mixed) == "mixed_bfloat16" and compute_dtype(rebuilt) == "float32"
    expected = mixed.predict(features, verbose=0)
    np.testing.assert_allclose(rebuilt.predict(features, verbose=0), expected,
                               atol=0.05 * np.abs(expected).max())


def test_frozen_feature_head_loads_in_safe_mode(tmp_path):
    features = np.random.default_rng(0).normal(size=(20, 5)).astype("float32")
    head = heads.l2svm_on_features(features, 7)
    head.compile(optimizer="adam", loss=heads.L2SVMLoss())
    head.save(tmp_path / "head.keras")
    loaded = load_model_file(tmp_path / "head.keras", num_classes=None)
    np.testing.assert_allclose(loaded.predict(features, verbose=0),
                               head.predict(features, verbose=0), rtol=1e-6)


def test_truncated_text_and_non_keras_zip_are_refused(saved_model, tmp_path):
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(saved_model.read_bytes()[: saved_model.stat().st_size // 2])
    text = tmp_path / "notes.keras"
    text.write_text("not a model\n")
    other_zip = tmp_path / "other.keras"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    for path, reason in ((truncated, "not a zip archive"), (text, "not a zip archive"),
                         (other_zip, "missing metadata.json, config.json, model.weights.h5"),
                         (tmp_path / "absent.keras", "no such model file")):
        with pytest.raises(ModelFileError) as err:
            load_model_file(path)
        assert str(err.value).startswith(f"{path}: ") and reason in str(err.value)
        assert "\n" not in str(err.value)


def test_corrupted_member_is_refused(saved_model, tmp_path):
    path = tmp_path / "flipped.keras"
    data = bytearray(saved_model.read_bytes())
    with zipfile.ZipFile(saved_model) as archive:
        info = archive.getinfo("model.weights.h5")
    data[info.header_offset + 200] ^= 0xFF  # a byte inside the stored weights
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupted .keras archive"):
        load_model_file(path)


def rewrite_member(source, target, name, content):
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, content if item.filename == name else src.read(item))


def test_foreign_architecture_and_mismatched_weights_are_refused(saved_model, tmp_path):
    inputs = keras.Input((10,))
    foreign = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    foreign.save(tmp_path / "foreign.keras")
    with pytest.raises(ModelFileError, match="not a facial expression model: input"):
        load_model_file(tmp_path / "foreign.keras")

    # The architecture of one model with the weights of another (wider) one.
    wider = build_model("shallow_cnn", filters=[8], dense_units=6)
    wider.save(tmp_path / "wider.keras")
    with zipfile.ZipFile(tmp_path / "wider.keras") as archive:
        weights = archive.read("model.weights.h5")
    rewrite_member(saved_model, tmp_path / "mixed.keras", "model.weights.h5", weights)
    with pytest.raises(ModelFileError, match="cannot load the model"):
        load_model_file(tmp_path / "mixed.keras")

    # Weights with a layer's entries missing (Keras names the groups after the layer classes).
    with zipfile.ZipFile(saved_model) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(weights, "r+") as f:
        del f["layers/dense_1"]  # "predictions", the second Dense
    rewrite_member(saved_model, tmp_path / "missing.keras", "model.weights.h5",
                   weights.getvalue())
    with pytest.raises(ModelFileError, match="cannot load the model .*could not be loaded"):
        load_model_file(tmp_path / "missing.keras")


def test_unsafe_lambda_and_unknown_classes_are_refused(saved_model, tmp_path):
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    outputs = keras.layers.Dense(7)(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match="cannot load the model .*unsafe"):
        load_model_file(tmp_path / "lambda.keras")

    with zipfile.ZipFile(saved_model) as archive:
        config = archive.read("config.json").decode().replace('"Rescaling"', '"Backdoor"')
    rewrite_member(saved_model, tmp_path / "unknown.keras", "config.json", config)
    with pytest.raises(ModelFileError, match="cannot load the model"):
        load_model_file(tmp_path / "unknown.keras")


@pytest.fixture
def saved_svc(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    return heads.save_svc(heads.make_svc("svc").fit(x, y), tmp_path / "svc_head.json")


def tamper(path, edit):
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, reason", [
    (lambda m: m["steps"][1].update({"class": "RandomForestClassifier"}),
     "of type 'RandomForestClassifier' refused; accepted: 'svc' of type SVC or LinearSVC"),
    (lambda m: m["steps"].reverse(), "refused"),
    (lambda m: m["steps"].append(m["steps"][0]), "expected the steps scaler → svc"),
    (lambda m: m["steps"][1]["state"].update({"decision_function": 1}),
     "attribute 'decision_function' refused for SVC"),
    (lambda m: m["steps"][1]["state"].update({"__class__": "os.system"}), "'__class__' refused"),
    (lambda m: m["steps"][1]["state"].update({"_n_support": {"__array__": "svc.support_"}}),
     "has shape"),
    (lambda m: m["steps"][1]["state"].update({"kernel": "precomputed"}), "kernel 'precomputed'"),
    (lambda m: m.update({"format": "sklearn.pickle"}), "not an SVC head saved by"),
])
def test_svc_loader_refuses_tampered_files(saved_svc, edit, reason):
    tamper(saved_svc, edit)
    with pytest.raises(ModelFileError) as err:
        heads.load_svc(saved_svc)
    assert str(err.value).startswith(f"{saved_svc}: cannot load the SVC head (")
    assert reason in str(err.value)


def test_svc_loader_refuses_inconsistent_arrays_and_pickles(saved_svc):
    npz = saved_svc.with_suffix(".npz")
    with np.load(npz) as f:
        arrays = dict(f)
    np.savez(npz, **{**arrays, "svc.support_vectors_": arrays["svc.support_vectors_"][:-1]})
    with pytest.raises(ModelFileError, match="support_vectors_ has shape"):
        heads.load_svc(saved_svc)  # libsvm would read past the end of the array
    np.savez(npz, **{**arrays, "svc.support_vectors_": np.array([print], dtype=object)})
    with pytest.raises(ModelFileError, match="allow_pickle=False"):
        heads.load_svc(saved_svc)
    npz.unlink()
    with pytest.raises(ModelFileError, match="No such file"):
        heads.load_svc(saved_svc)


def test_evaluate_cli_reports_a_damaged_model_in_one_line(tmp_path, capsys):
    run_dir = make_run(tmp_path, head="softmax")
    with open(run_dir / "best.keras", "r+b") as f:
        f.truncate(1000)
    assert evaluate_command.main([str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {run_dir / 'best.keras'}: not a .keras model file (not a zip " \
                  "archive: truncated, or another format such as a legacy .h5)\n"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_writes_get_the_usual_permissions(tmp_path):
    """Temporary files and folders are private (0600/0700); what is swapped in must not be."""
    from fer_keras import _io
    _io.write_json(tmp_path / "a.json", {"x": 1})
    with _io.atomic_path(tmp_path / "b.keras") as tmp:
        tmp.write_bytes(b"model")
    folder = _io.temp_dir(".f.", tmp_path)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == _io.FILE_MODE
    assert stat.S_IMODE((tmp_path / "b.keras").stat().st_mode) == _io.FILE_MODE
    assert stat.S_IMODE(folder.stat().st_mode) == _io.DIR_MODE
