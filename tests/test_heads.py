"""Softmax and L2-SVM heads, feature extraction, and the pickle-free SVC head."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_CNN

from fer_keras.models import build_model, heads, names


def blobs(n=120, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = rng.normal(0, 4, (k, d))
    return (centres[labels] + rng.normal(0, 1, (n, d))).astype("float32"), labels


def tiny_cnn(**kwargs):
    return build_model("shallow_cnn", **TINY_CNN, **kwargs)


def test_l2svm_loss_is_tangs_squared_hinge():
    scores = np.array([[2.0, -0.5, 0.3], [0.1, 0.2, -3.0]], "float32")
    labels = np.array([0, 2])
    targets = np.where(np.eye(3)[labels] == 1, 1.0, -1.0)
    expected = np.mean(np.sum(np.maximum(0, 1 - targets * scores) ** 2, axis=1))
    loss = heads.L2SVMLoss()
    assert float(loss(labels, scores)) == pytest.approx(expected, rel=1e-6)
    assert float(loss(labels[:, None], scores)) == pytest.approx(expected, rel=1e-6)


def test_l2svm_loss_serialises():
    loss = heads.L2SVMLoss(reduction="sum")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, heads.L2SVMLoss) and restored.reduction == "sum"


def test_l2svm_head_is_linear_with_l2_penalty():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, heads.classifier_head(inputs, 4, "l2svm", l2=0.1))
    layer = model.get_layer(names.OUTPUT_LAYER)
    assert layer.activation is keras.activations.linear
    assert layer.kernel_regularizer.l2 == pytest.approx(0.1)
    assert len(model.losses) == 1
    kernel = layer.kernel.numpy()
    assert float(model.losses[0]) == pytest.approx(0.1 * np.sum(kernel ** 2), rel=1e-5)


def test_l2svm_on_features_learns_separable_data():
    keras.utils.set_random_seed(0)
    x, y = blobs()
    head = heads.l2svm_on_features(x, 3, l2=1e-4)
    head.compile(optimizer=keras.optimizers.Adam(0.05), loss=heads.L2SVMLoss(),
                 metrics=heads.head_metrics())
    head.fit(x, y, epochs=40, batch_size=32, verbose=0)
    scores = head.predict(x, verbose=0)
    assert np.mean(scores.argmax(axis=1) == y) > 0.95
    np.testing.assert_allclose(head.get_layer("standardize").mean.numpy().ravel(), x.mean(0),
                               rtol=1e-4, atol=1e-4)


def test_extract_features_from_arrays_and_datasets():
    model = tiny_cnn()
    x = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    f3 = heads.extract_features(model, x)
    f4 = heads.extract_features(model, x[..., None])
    fds = heads.extract_features(model, tf.data.Dataset.from_tensor_slices(
        (x[..., None].astype("float32"), np.zeros(5))).batch(2))
    assert f3.shape == (5, 6) and f3.dtype == np.float32
    np.testing.assert_allclose(f3, f4, rtol=1e-6)
    np.testing.assert_allclose(f3, fds, rtol=1e-5, atol=1e-6)
    assert heads.extract_features(model, x, layer="flatten").shape == (5, 24 * 24 * 4)
    with pytest.raises(ValueError, match="no layer 'nope'.*features"):
        heads.extract_features(model, x, layer="nope")


@pytest.mark.parametrize("kind", names.SVC_KINDS)
def test_svc_round_trip_without_pickle(kind, tmp_path):
    x, y = blobs(k=4)
    svc = heads.make_svc(kind, C=0.5, random_state=3).fit(x, y)
    path = heads.save_svc(svc, tmp_path / "svc_head.json")
    meta = json.loads(path.read_text())
    assert meta["format"] == "fer_keras.svc/1"
    assert [s["class"] for s in meta["steps"]] == [
        "StandardScaler", "SVC" if kind == "svc" else "LinearSVC"]
    with np.load(tmp_path / "svc_head.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)

    loaded = heads.load_svc(path)
    probe, _ = blobs(n=30, k=4, seed=1)
    np.testing.assert_array_equal(loaded.predict(probe), svc.predict(probe))
    np.testing.assert_allclose(loaded.decision_function(probe), svc.decision_function(probe))
    assert loaded.get_params()["svc__C"] == 0.5
    assert loaded.get_params()["svc__random_state"] == 3


def test_make_svc_rejects_unknown_kind():
    with pytest.raises(ValueError, match="svc, linear_svc"):
        heads.make_svc("forest")


def test_load_svc_rejects_foreign_json(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an SVC head"):
        heads.load_svc(tmp_path / "x.json")


def test_predict_scores_svc_with_a_class_missing_from_training():
    model = tiny_cnn()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 48, 48), dtype=np.uint8)
    y = np.array([0, 2, 3, 5] * 3)
    svc = heads.make_svc("linear_svc").fit(heads.extract_features(model, x), y)
    scores = heads.predict_scores(model, x, svc=svc)
    assert scores.shape == (12, 7)
    assert np.isneginf(scores[:, [1, 4, 6]]).all()
    np.testing.assert_array_equal(scores.argmax(axis=1),
                                  svc.predict(heads.extract_features(model, x)))


def test_predict_scores_network_and_feature_head():
    model = tiny_cnn()
    x = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(heads.predict_scores(model, x),
                               model.predict(x[..., None].astype("float32"), verbose=0), rtol=1e-6)
    head = heads.l2svm_on_features(np.random.default_rng(1).normal(size=(10, 6)).astype("float32"))
    assert heads.predict_scores(model, x, feature_head=head).shape == (3, 7)
