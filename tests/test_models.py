"""The model registry, every registered model's contract, and the VGG16 transfer mechanics."""

import keras
import numpy as np
import pytest
from helpers import TINY_MODELS, tiny_model_options

from fer_keras.models import (
    build_model,
    get_spec,
    heads,
    list_models,
    names,
    register_model,
    vgg,
)
from fer_keras.training.callbacks import trainable_layer_names


def images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype("float32")


def test_every_registered_model_has_a_tiny_config():
    """A model registered without tiny options would otherwise be tested nowhere."""
    assert sorted(TINY_MODELS) == list_models()


def test_the_names_without_keras_are_the_registry_s():
    """--help lists the architectures from fer_keras.models.names, before Keras loads."""
    assert list(names.ARCHITECTURES) == list_models()


@pytest.mark.parametrize("head", names.NETWORK_HEADS)
@pytest.mark.parametrize("name", list_models())
def test_model_contract(name, head, tmp_path):
    """Every registered model: build, output shape, a train step, no NaN, config and .keras
    round trips."""
    model = build_model(name, num_classes=7, head=head, **tiny_model_options(name))
    x, y = images(), np.array([0, 1, 2, 3])
    assert model.output_shape == (None, 7)
    assert model.get_layer(names.FEATURE_LAYER) is not None

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
    model = build_model("shallow_cnn", **TINY_MODELS["shallow_cnn"])
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)


def test_unknown_model_lists_accepted_names():
    with pytest.raises(ValueError, match="Accepted names: bst261_cnn, resnet18, shallow_cnn, "):
        build_model("resnet9000")


def test_register_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_model("shallow_cnn")(lambda **kw: None)


def test_shallow_cnn_options_and_errors():
    model = build_model("shallow_cnn", input_shape=(48, 48, 1), num_classes=3, filters=(4, 8, 16),
                        convs_per_stage=(1, 2, 1), dense_units=5)
    assert model.output_shape == (None, 3)
    assert model.get_layer(names.FEATURE_LAYER).output.shape == (None, 5)
    assert [lyr.name for lyr in model.layers if lyr.name.startswith("block2_conv")] == [
        "block2_conv1", "block2_conv2"]
    with pytest.raises(ValueError, match="convs_per_stage"):
        build_model("shallow_cnn", filters=(4, 8), convs_per_stage=(1,))
    with pytest.raises(ValueError, match="filters"):
        build_model("shallow_cnn", filters=())


def test_unknown_head_lists_accepted_values():
    with pytest.raises(ValueError, match="softmax, l2svm, svc"):
        build_model("shallow_cnn", head="hinge", **TINY_MODELS["shallow_cnn"])


# --- The models of issue 4 ----------------------------------------------------------------------

def test_bst261_cnn_six_merged_classes():
    model = build_model("bst261_cnn", num_classes=6, **TINY_MODELS["bst261_cnn"])
    assert model.output_shape == (None, 6)
    assert [lyr.name for lyr in model.layers if isinstance(lyr, keras.layers.Conv2D)] == [
        f"block{b}_conv{i}" for b in (1, 2, 3) for i in (1, 2, 3)]
    assert model.get_layer("block3_pool").output.shape == (None, 6, 6, 8)
    assert model.get_layer(names.FEATURE_LAYER).output.shape == (None, 8)


def test_susa_cnn_layout_and_batch_norm_option():
    model = build_model("susa_cnn", **TINY_MODELS["susa_cnn"])
    convs = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Conv2D)]
    assert [c.kernel_size[0] for c in convs] == [5, 3, 3, 3, 3, 2, 2, 1, 1]
    assert [c.filters for c in convs] == [4, 8, 8, 16, 16, 8, 8, 8, 8]
    assert model.get_layer("flatten").output.shape == (None, 12 * 12 * 8)
    assert model.get_layer(names.FEATURE_LAYER).activation is keras.activations.tanh
    assert not any(isinstance(lyr, keras.layers.BatchNormalization) for lyr in model.layers)
    with_bn = build_model("susa_cnn", batch_norm=True, **TINY_MODELS["susa_cnn"])
    assert sum(isinstance(lyr, keras.layers.BatchNormalization) for lyr in with_bn.layers) == 9


def test_resnet18_has_18_weight_layers():
    model = build_model("resnet18")
    convs = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Conv2D)]
    projections = [c for c in convs if c.name.endswith("_shortcut_conv")]
    assert all(c.kernel_size == (1, 1) for c in projections) and len(projections) == 3
    dense = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Dense)]
    assert len(convs) - len(projections) == 17 and len(dense) == 1
    assert model.get_layer("stem_conv").strides == (1, 1)
    assert not any(isinstance(lyr, keras.layers.MaxPooling2D) for lyr in model.layers)
    assert model.get_layer("stage4_block2_out").output.shape == (None, 6, 6, 512)
    assert model.get_layer(names.FEATURE_LAYER).output.shape == (None, 512)
    assert model.count_params() == pytest.approx(11.18e6, rel=0.01)


def test_resnet18_stackwise_errors():
    with pytest.raises(ValueError, match="stackwise_num_blocks"):
        build_model("resnet18", stackwise_num_filters=(4, 8), stackwise_num_blocks=(1,))


@pytest.mark.parametrize("size, cells", [(40, 2), (48, 3)])
def test_vgg_fer_builds_at_40_and_48(size, cells):
    model = build_model("vgg_fer", input_shape=(size, size, 1), **TINY_MODELS["vgg_fer"])
    assert model.output_shape == (None, 7)
    assert model.get_layer("block4_pool").output.shape == (None, cells, cells, 8)


def test_vgg_fer_defaults_follow_the_paper():
    from fer_keras.models.vgg_fer import vgg_fer

    model = vgg_fer(stackwise_num_filters=(4, 8, 8, 8))  # full-width FC, small convs
    assert model.input_shape == (None, 40, 40, 1) and model.output_shape == (None, 7)
    assert model.get_layer(names.FEATURE_LAYER).output.shape == (None, 4096)
    assert model.get_layer("fc1_dropout").rate == model.get_layer("features_dropout").rate == 0.2


# --- VGG16 transfer mechanics -------------------------------------------------------------------

def tiny_vgg(**kwargs):
    return build_model("vgg16_transfer", **{**TINY_MODELS["vgg16_transfer"], **kwargs})


def test_vgg_phase1_only_head_trainable():
    model = tiny_vgg()
    assert trainable_layer_names(model) == [names.FEATURE_LAYER, names.OUTPUT_LAYER]
    assert not model.get_layer(vgg.BASE_NAME).trainable


def test_vgg_phase2_exactly_block5_and_head():
    model = vgg.unfreeze_top_block(tiny_vgg())
    assert trainable_layer_names(model) == [
        "vgg16/block5_conv1", "vgg16/block5_conv2", "vgg16/block5_conv3",
        names.FEATURE_LAYER, names.OUTPUT_LAYER]
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


# --- VGG16 + Network-in-Network ----------------------------------------------------------------

def tiny_nin(**kwargs):
    return build_model("vgg16_nin", **{**TINY_MODELS["vgg16_nin"], **kwargs})


def test_vgg16_nin_truncated_base_and_nin_block():
    model = tiny_nin(image_size=96)
    base = model.get_layer(vgg.BASE_NAME)
    assert base.layers[-1].name == vgg.NIN_BASE_TOP
    assert not [lyr.name for lyr in base.layers if lyr.name.startswith(("block4", "block5"))]
    assert base.output.shape == (None, 12, 12, 256)
    assert model.get_layer("grey_to_rgb").output.shape == (None, 96, 96, 3)
    assert [model.get_layer(f"nin_conv{i}").kernel_size for i in (1, 2, 3)] == [
        (3, 3), (1, 1), (1, 1)]
    assert isinstance(model.get_layer(names.FEATURE_LAYER), keras.layers.GlobalAveragePooling2D)
    (layer_config,) = [c for c in model.get_config()["layers"] if c["name"] == vgg.BASE_NAME]
    assert [node["kwargs"]["training"] for node in layer_config["inbound_nodes"]] == [False]


def test_vgg16_nin_phase1_frozen_base_phase2_blocks_1_to_3():
    model = tiny_nin(freeze_base=True)
    base_layers = [f"{vgg.BASE_NAME}/block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 3))
                   for i in range(1, n + 1)]
    new_layers = ["nin_conv1", "nin_bn1", "nin_conv2", "nin_conv3", names.OUTPUT_LAYER]
    assert trainable_layer_names(model) == new_layers
    assert not model.get_layer(vgg.BASE_NAME).trainable
    assert get_spec("vgg16_nin").fine_tune is vgg.unfreeze_base
    model = get_spec("vgg16_nin").fine_tune(model)
    assert trainable_layer_names(model) == base_layers + new_layers


def test_vgg16_nin_random_base_trains_from_the_start(tmp_path):
    assert tiny_nin().get_layer(vgg.BASE_NAME).trainable  # weights=None: from scratch
    path = vgg.save_base_weights(tiny_nin(), tmp_path / "base.weights.h5")
    assert not tiny_nin(weights=str(path)).get_layer(vgg.BASE_NAME).trainable
    assert tiny_nin(weights=str(path), freeze_base=False).get_layer(vgg.BASE_NAME).trainable


def test_vgg16_nin_loads_weights_saved_by_the_library(tmp_path):
    source = tiny_nin()
    path = vgg.save_base_weights(source, tmp_path / "base.weights.h5")
    full = tiny_vgg()
    full_path = vgg.save_base_weights(full, tmp_path / "full.weights.h5")
    for path, reference in ((path, source), (full_path, full)):
        target = tiny_nin(weights=str(path)).get_layer(vgg.BASE_NAME)
        expected = reference.get_layer(vgg.BASE_NAME)
        for lyr in (lyr for lyr in target.layers if lyr.weights):
            for a, b in zip(lyr.weights, expected.get_layer(lyr.name).weights):
                np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_vgg16_nin_errors():
    with pytest.raises(ValueError, match="nin_filters"):
        tiny_nin(nin_filters=(8, 8))
    with pytest.raises(ValueError, match="at least 32"):
        tiny_nin(image_size=16)
