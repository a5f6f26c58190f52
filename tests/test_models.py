"""The model registry, every registered model's contract, and the VGG16 transfer mechanics."""

import keras
import numpy as np
import pytest

from fer_keras import heads
from fer_keras.models import build_model, get_spec, list_models, register_model, vgg
from fer_keras.runs import trainable_layer_names

# Smallest configuration of each registered model; a new model must add itself here.
TINY = {
    "shallow_cnn": {"filters": (4, 8), "dense_units": 8},
    "vgg16_transfer": {"weights": None, "image_size": 32, "dense_units": 8},
}


def images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype("float32")


def test_every_registered_model_has_a_tiny_config():
    assert sorted(TINY) == list_models()


@pytest.mark.parametrize("head", heads.NETWORK_HEADS)
@pytest.mark.parametrize("name", list_models())
def test_model_contract(name, head, tmp_path):
    model = build_model(name, num_classes=7, head=head, **TINY[name])
    x, y = images(), np.array([0, 1, 2, 3])
    assert model.output_shape == (None, 7)
    assert model.get_layer(heads.FEATURE_LAYER) is not None

    model.compile(optimizer="adam", loss=heads.head_loss(head), metrics=heads.head_metrics())
    logs = model.train_on_batch(x, y, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    out = model.predict(x, verbose=0)
    assert out.shape == (4, 7) and np.isfinite(out).all()
    if head == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)

    clone = keras.Model.from_config(model.get_config())
    assert clone.get_config() == model.get_config()

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), out, rtol=1e-5, atol=1e-6)
    assert type(loaded.loss) is type(model.loss)


def test_models_take_raw_pixels():
    model = build_model("shallow_cnn", **TINY["shallow_cnn"])
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)


def test_unknown_model_lists_accepted_names():
    with pytest.raises(ValueError, match="Accepted names: shallow_cnn, vgg16_transfer"):
        build_model("resnet9000")


def test_register_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_model("shallow_cnn")(lambda **kw: None)


def test_shallow_cnn_options_and_errors():
    model = build_model("shallow_cnn", input_shape=(48, 48, 1), num_classes=3, filters=(4, 8, 16),
                        convs_per_stage=(1, 2, 1), dense_units=5)
    assert model.output_shape == (None, 3)
    assert model.get_layer(heads.FEATURE_LAYER).output.shape == (None, 5)
    assert [lyr.name for lyr in model.layers if lyr.name.startswith("block2_conv")] == [
        "block2_conv1", "block2_conv2"]
    with pytest.raises(ValueError, match="convs_per_stage"):
        build_model("shallow_cnn", filters=(4, 8), convs_per_stage=(1,))
    with pytest.raises(ValueError, match="filters"):
        build_model("shallow_cnn", filters=())


def test_unknown_head_lists_accepted_values():
    with pytest.raises(ValueError, match="softmax, l2svm, svc"):
        build_model("shallow_cnn", head="hinge", **TINY["shallow_cnn"])


# --- VGG16 transfer mechanics -------------------------------------------------------------------

def tiny_vgg(**kwargs):
    return build_model("vgg16_transfer", **{**TINY["vgg16_transfer"], **kwargs})


def test_vgg_phase1_only_head_trainable():
    model = tiny_vgg()
    assert trainable_layer_names(model) == [heads.FEATURE_LAYER, heads.OUTPUT_LAYER]
    assert not model.get_layer(vgg.BASE_NAME).trainable


def test_vgg_phase2_exactly_block5_and_head():
    model = vgg.unfreeze_top_block(tiny_vgg())
    assert trainable_layer_names(model) == [
        "vgg16/block5_conv1", "vgg16/block5_conv2", "vgg16/block5_conv3",
        heads.FEATURE_LAYER, heads.OUTPUT_LAYER]
    assert get_spec("vgg16_transfer").fine_tune is vgg.unfreeze_top_block
    assert get_spec("shallow_cnn").fine_tune is None


def test_vgg_base_called_with_training_false():
    model = tiny_vgg()
    (layer_config,) = [c for c in model.get_config()["layers"] if c["name"] == vgg.BASE_NAME]
    assert [node["kwargs"]["training"] for node in layer_config["inbound_nodes"]] == [False]


def test_vgg_input_adaptation_inside_the_model():
    model = tiny_vgg(image_size=40)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.get_layer("grey_to_rgb").output.shape == (None, 40, 40, 3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(vgg.VGG16Preprocess()(x),
                               keras.applications.vgg16.preprocess_input(x.copy()), rtol=1e-6)


def test_vgg_loads_weights_saved_by_the_library(tmp_path):
    source = tiny_vgg()
    path = vgg.save_base_weights(source, tmp_path / "base.weights.h5")
    target = tiny_vgg(weights=str(path))
    pairs = zip(source.get_layer(vgg.BASE_NAME).weights, target.get_layer(vgg.BASE_NAME).weights)
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_vgg_download_failure_explains_the_alternatives(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(RuntimeError) as info:
        tiny_vgg(weights="imagenet")
    message = str(info.value)
    assert vgg.IMAGENET_WEIGHTS_FILE in message and "weights=None" in message
    assert "--weights" in message and "name resolution" in message


def test_vgg_rejects_missing_weights_file_and_small_images(tmp_path):
    with pytest.raises(ValueError, match="existing weights file"):
        tiny_vgg(weights=str(tmp_path / "nope.h5"))
    with pytest.raises(ValueError, match="at least 32"):
        tiny_vgg(image_size=16)
