"""Saliency, SmoothGrad, Grad-CAM, filters and mistakes on a small trained model and every model."""

import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from helpers import fer_lines, tiny_model_options, write_csv
from keras import layers
from matplotlib.figure import Figure

from fer_keras.commands import explain as explain_command
from fer_keras.evaluation.evaluate import Run
from fer_keras.explain import run as explain
from fer_keras.explain.names import METHODS as METHOD_NAMES
from fer_keras.models import build_model, heads, list_models, names

BOX = slice(8, 40)  # the "face": rows and columns 8..39; the border around it is background
METHODS = {"saliency": explain.saliency,
           "smoothgrad": lambda model, x: explain.smoothgrad(model, x, samples=4),
           "grad_cam": explain.grad_cam}
METHODS_TTA = {
    "saliency": lambda model, x, tta, **kw: explain.saliency(model, x, tta=tta, **kw),
    "smoothgrad": lambda model, x, tta, **kw: explain.smoothgrad(model, x, samples=4, tta=tta,
                                                                 **kw),
    "grad_cam": lambda model, x, tta, **kw: explain.grad_cam(model, x, tta=tta, **kw)}


def grating_faces(n_per_class, seed):
    """Learnable faces: a noisy border around a box filled with a grating whose angle is the class.

    Like a face, the box is where all the evidence is; the border is noise of similar contrast.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(7), n_per_class)
    images = rng.integers(0, 60, size=(len(labels), 48, 48)).astype("float32")
    yy, xx = np.mgrid[:32, :32]
    for image, label, phase in zip(images, labels, rng.uniform(0, 2 * np.pi, len(labels))):
        angle = np.pi * label / 7
        wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / 6 + phase)
        image[BOX, BOX] = 130 + 70 * wave + rng.normal(0, 15, (32, 32))
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def tiny_cnn(head="softmax"):
    """Three conv blocks, flatten, dense features, the head: shallow_cnn without batch norm, which
    needs more steps than a test can afford before its moving statistics settle."""
    inputs = keras.Input((48, 48, 1), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    for block, width in enumerate((8, 16, 32), start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu",
                          name=f"block{block}_conv1")(x)
        if block < 3:
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name=names.FEATURE_LAYER)(x)
    return keras.Model(inputs, heads.classifier_head(x, 7, head), name="tiny_cnn")


@pytest.fixture(scope="module")
def trained():
    """(model, validation images, labels): a tiny CNN that gets most grating faces right."""
    keras.utils.set_random_seed(0)
    x_train, y_train = grating_faces(40, seed=0)
    x_val, y_val = grating_faces(5, seed=1)
    model = tiny_cnn()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(x_train[..., None], y_train, epochs=6, batch_size=16, verbose=0)
    accuracy = np.mean(model.predict(x_val, verbose=0).argmax(1) == y_val)
    assert accuracy > 0.6, f"the test model did not learn the gratings (accuracy {accuracy:.2f})"
    return model, x_val, y_val


def tiny_model(name, head):
    return build_model(name, head=head, **tiny_model_options(name))


@pytest.mark.parametrize("shape", ["nhw", "nhw1"])
@pytest.mark.parametrize("method", METHODS)
def test_maps_have_the_input_shape_are_finite_and_not_constant(trained, method, shape):
    model, images, _ = trained
    images = images[::5] if shape == "nhw" else images[::5, :, :, None].astype("float32")
    maps = METHODS[method](model, images)
    assert maps.shape == images.shape and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    flat = maps.reshape(len(maps), -1)
    assert (flat.max(axis=1) > flat.min(axis=1)).all()


def test_grad_cam_weighs_the_face_box_more_than_the_border(trained):
    model, images, labels = trained
    right = model.predict(images, verbose=0).argmax(1) == labels
    maps = explain.grad_cam(model, images[right])
    inside = np.zeros((48, 48), bool)
    inside[BOX, BOX] = True
    per_pixel_inside, per_pixel_border = maps[:, inside].mean(axis=1), maps[:, ~inside].mean(axis=1)
    assert per_pixel_inside.mean() > 1.5 * per_pixel_border.mean()
    assert np.mean(per_pixel_inside > per_pixel_border) >= 0.75


def test_the_predicted_class_is_explained_unless_one_is_given(trained):
    model, images, labels = trained
    k = np.flatnonzero(model.predict(images, verbose=0).argmax(1) == labels)[0]
    face = images[k:k + 1]
    own = explain.saliency(model, face, classes=labels[k:k + 1])
    assert np.array_equal(own, explain.saliency(model, face))
    assert not np.allclose(own, explain.saliency(model, face, classes=(labels[k] + 3) % 7))


def test_score_model_gives_logits_for_softmax_and_raw_scores_for_l2svm(trained):
    model, images, _ = trained
    x = images[:4, :, :, None].astype("float32")
    logits = explain.score_model(model)(x).numpy()
    np.testing.assert_allclose(keras.ops.softmax(logits).numpy(), model(x).numpy(), atol=1e-5)
    svm = tiny_cnn("l2svm")
    np.testing.assert_allclose(explain.score_model(svm)(x).numpy(), svm(x).numpy(), atol=1e-5)


def test_layers_inside_a_nested_base_are_reachable_by_path_or_name():
    model = tiny_model("vgg16_transfer", "softmax")
    assert explain.conv_layers(model)[-1] == "vgg16/block5_conv3"
    assert explain.resolve_layer(model, "block4_pool") == "vgg16/block4_pool"
    activations, scores = explain.score_model(model, "vgg16/block4_conv1", tap=True)(
        np.zeros((2, 48, 48, 1), "float32"))
    assert activations.shape == (2, 4, 4, 512) and scores.shape == (2, 7)
    with pytest.raises(ValueError, match="Conv layers: vgg16/block1_conv1, .*block5_conv3"):
        explain.resolve_layer(model, "nope")
    with pytest.raises(ValueError, match="no layer with a 4-D output"):
        explain.resolve_layer(model, "features")


def test_filters_from_noise_and_on_a_face(trained):
    model, images, _ = trained
    patterns = explain.filter_patterns(model, "block2_conv1", filters=[0, 3, 5], steps=5)
    assert patterns.shape == (3, 48, 48) and patterns.min() >= 0 and patterns.max() <= 255
    assert not np.allclose(patterns[0], patterns[1])
    on_face = explain.filter_on_face(model, images[0], filters=4, steps=3)
    assert on_face.shape == (4, 48, 48)
    change = np.abs(on_face - images[0]).mean(axis=(1, 2))
    assert (change > 0).all() and (change < 40).all()  # the face stays visible
    with pytest.raises(ValueError, match=r"in \[0, 32\)"):
        explain.filter_patterns(model, filters=[32])


def test_confident_mistakes_per_pair_ordered_by_margin():
    scores = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.1, 0.1, 0.8],
                       [0.7, 0.2, 0.1]])
    labels = np.array([1, 1, 1, 0, 1])
    top = explain.confident_mistakes(scores, labels)
    assert top["index"].tolist() == [3, 0] and top["true"].tolist() == [0, 1]
    assert top["predicted"].tolist() == [2, 0]
    np.testing.assert_allclose(top["margin"], [0.7, 0.8])
    assert explain.confident_mistakes(scores, labels, per_pair=5)["index"].tolist() == [3, 0, 4, 1]


def test_plots_return_figures(trained, tmp_path):
    model, images, labels = trained
    faces = images[::5]
    figures = [
        explain.plot_explanations(faces, {"saliency": explain.saliency(model, faces),
                                          "Grad-CAM": explain.grad_cam(model, faces)},
                                  [str(c) for c in labels[::5]]),
        explain.plot_filters(explain.filter_patterns(model, filters=3, steps=2), title="x"),
        explain.plot_mistakes(images, explain.confident_mistakes(
            model.predict(images, verbose=0), labels)),
    ]
    for k, fig in enumerate(figures):
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{k}.png")
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or not pyplot.get_fignums()


@pytest.mark.parametrize("head", names.NETWORK_HEADS)
@pytest.mark.parametrize("name", list_models())
def test_every_method_runs_for_every_registered_model(name, head):
    model = tiny_model(name, head)
    faces, labels = grating_faces(1, seed=2)
    for method in METHODS.values():
        maps = method(model, faces[:2])
        assert maps.shape == (2, 48, 48) and np.isfinite(maps).all()
    patterns = explain.filter_patterns(model, filters=2, steps=2)
    assert patterns.shape[0] == 2 and np.isfinite(patterns).all()
    assert explain.filter_on_face(model, faces[0], filters=2, steps=1).shape[0] == 2
    mistakes = explain.confident_mistakes(model.predict(faces, verbose=0), labels)
    assert (mistakes["true"] != mistakes["predicted"]).all()


@pytest.fixture(scope="module")
def crop_network():
    """An untrained shallow_cnn on 40-px views of the 48x48 faces (the cpu_fast shape)."""
    keras.utils.set_random_seed(4)
    return build_model("shallow_cnn", input_shape=(40, 40, 1), filters=[4, 8], dense_units=8)


def outside_center_view():
    border = np.ones((48, 48), bool)
    border[4:44, 4:44] = False
    return border


@pytest.mark.parametrize("method", METHODS)
def test_maps_of_a_crop_network_cover_the_whole_face(crop_network, method):
    faces = grating_faces(1, seed=5)[0][:3]
    border = outside_center_view()
    center = METHODS_TTA[method](crop_network, faces, "none")
    assert center.shape == (3, 48, 48) and np.isfinite(center).all()
    assert (center[:, border] == 0).all() and center.max() == 1  # the center view alone
    ten = METHODS_TTA[method](crop_network, faces, "tencrop")
    assert ten.shape == (3, 48, 48) and ten[:, border].max() > 0  # the corner views reach it
    with pytest.raises(ValueError, match="need 48x48 faces"):
        METHODS_TTA[method](crop_network, faces[:, :44, :44], "flip")


@pytest.mark.parametrize("mode", ["flip", "tencrop"])
@pytest.mark.parametrize("method", ["saliency", "grad_cam"])
def test_views_are_put_back_unmirrored(crop_network, method, mode):
    """The mean score over views that include every mirror is the same for a face and its
    mirror image, so its map of the mirror image is the mirror of its map."""
    faces = grating_faces(1, seed=6)[0][:2]
    maps = METHODS_TTA[method](crop_network, faces, mode, classes=[2, 5])
    mirrored = METHODS_TTA[method](crop_network, faces[:, :, ::-1], mode, classes=[2, 5])
    assert maps.max() > 0
    np.testing.assert_allclose(mirrored, maps[:, :, ::-1], atol=1e-4)


def test_filters_of_a_crop_network_on_the_whole_face(crop_network):
    face = grating_faces(1, seed=7)[0][0]
    on_face = explain.filter_on_face(crop_network, face, filters=2, steps=2)
    assert on_face.shape == (2, 48, 48)
    border = outside_center_view()
    np.testing.assert_array_equal(on_face[:, border], np.tile(face[border], (2, 1)))
    assert (np.abs(on_face[:, 4:44, 4:44] - face[4:44, 4:44]).mean(axis=(1, 2)) > 0).all()
    assert explain.filter_patterns(crop_network, filters=2, steps=1).shape == (2, 40, 40)


def test_run_model_explains_a_frozen_feature_head(trained):
    model, images, _ = trained
    features = heads.extract_features(model, images)
    head = heads.l2svm_on_features(features)
    run = Run(Path("."), {"feature_layer": names.FEATURE_LAYER}, model, feature_head=head)
    composed = explain.run_model(run)
    np.testing.assert_allclose(composed.predict(images, verbose=0),
                               heads.predict_scores(model, images, feature_head=head), atol=1e-4)
    assert explain.grad_cam(composed, images[:3]).shape == (3, 48, 48)
    assert explain.run_model(Run(Path("."), {}, model)) is model


def test_run_model_of_a_mixed_precision_network_computes_in_float32():
    from fer_keras.models.saving import compute_dtype

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model("shallow_cnn", **tiny_model_options("shallow_cnn"))
    finally:
        keras.config.set_dtype_policy(previous)
    explained = explain.run_model(Run(Path("."), {}, model))
    assert compute_dtype(model) == "mixed_bfloat16" and compute_dtype(explained) == "float32"
    faces = grating_faces(1, seed=8)[0][:2]
    assert explain.saliency(explained, faces).shape == (2, 48, 48)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real run directory: fer_keras.train for one epoch on grating faces written as a CSV."""
    from fer_keras.training.train import train

    root = tmp_path_factory.mktemp("explain_run")
    x_train, y_train = grating_faces(6, seed=0)
    x_val, y_val = grating_faces(3, seed=1)
    lines = (fer_lines(x_train, y_train, ["Training"] * len(y_train))
             + fer_lines(x_val, y_val, ["PublicTest"] * len(y_val)))
    csv = write_csv(str(root / "gratings.csv"), lines)
    return train(model="shallow_cnn", data=csv, out=str(root / "models"), epochs=1, augment=False,
                 verbose=0, model_options={"filters": [8, 16], "dense_units": 16})


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_cli_writes_pngs_beside_the_run(run_dir, method, capsys):
    assert explain_command.main([str(run_dir), "--method", method, "--n", "3"]) == 0
    written = [Path(line) for line in capsys.readouterr().out.split()]
    assert written and all(p.parent == run_dir / "explain" for p in written)
    for path in written:
        image = cv2.imread(str(path))
        assert image is not None and image.std() > 0


def test_cli_explains_given_pngs_into_out(run_dir, tmp_path, capsys):
    faces, _ = grating_faces(1, seed=3)
    paths = [tmp_path / f"face{i}.png" for i in range(2)]
    for path, face in zip(paths, faces):
        cv2.imwrite(str(path), cv2.resize(face, (96, 96)))  # any size is resized to the model's
    args = [str(run_dir), "--method", "gradcam", "--layer", "block1_conv2", "--out",
            str(tmp_path / "out"), "--images", *map(str, paths)]
    assert explain_command.main(args) == 0
    assert (tmp_path / "out" / "gradcam_images.png").is_file()
    assert explain.plot_training_curves(run_dir).axes


def test_cli_errors_are_one_line_with_status_2(run_dir, tmp_path, capsys):
    command = explain_command.main  # as python -m fer_keras.explain runs it

    assert command([str(tmp_path), "--method", "saliency"]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path} is not a run directory "
                                               "(no config.json).")
    assert command([str(run_dir), "--method", "gradcam", "--layer", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith("Conv layers: block1_conv1, block1_conv2, "
                                            "block2_conv1, block2_conv2.")
    assert command([str(run_dir), "--method", "saliency", "--split", "PrivateTest"]) == 2
    assert "no PrivateTest rows" in capsys.readouterr().err
    assert command([str(run_dir), "--method", "saliency", "--images", "a.png"]) == 2
    assert capsys.readouterr().err == "error: a.png: not a readable image\n"
    with pytest.raises(SystemExit) as exit_:  # argparse checks the name, before TensorFlow
        command([str(run_dir), "--method", "nope"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --method: invalid choice: 'nope'" in err
    assert all(name in err for name in METHOD_NAMES), err
    with pytest.raises(ValueError, match="^Unknown method 'nope'. Accepted values: saliency, "
                       "smoothgrad, gradcam, filters, mistakes"):
        explain.explain_model(run_dir, "nope")  # a caller of the library gets its own check
    with pytest.raises(SystemExit):
        command([str(run_dir), "--method", "mistakes", "--images", "a.png"])
    assert "needs labelled images" in capsys.readouterr().err


def test_the_model_by_option_and_a_packaged_one_written_here(run_dir, packaged_model, tmp_path,
                                                             monkeypatch, capsys):
    out = tmp_path / "by_option"
    assert explain_command.main(["--model", str(run_dir), "--method", "saliency", "--n", "2",
                                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "saliency_PublicTest.png")]
    # the default, packaged model (a 40-px crop network) explains whole faces through its views
    monkeypatch.chdir(tmp_path)
    data = str(run_dir.parent.parent / "gratings.csv")
    before = sorted(p.name for p in packaged_model.iterdir())
    assert explain_command.main(["--method", "gradcam", "--n", "2", "--data", data]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.resolve() == (tmp_path / "explain" / "gradcam_PublicTest.png").resolve()
    assert written.is_file()
    assert sorted(p.name for p in packaged_model.iterdir()) == before


def test_cli_subprocess(run_dir, tmp_path):
    cmd = [sys.executable, "-m", "fer_keras.explain", str(run_dir), "--method", "smoothgrad",
           "--n", "2", "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "smoothgrad_PublicTest.png")
