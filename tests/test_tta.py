"""Test-time augmentation: the views, their averaging and the model's view size."""

import keras
import numpy as np
import pytest
from helpers import make_images

from fer_keras.evaluation.tta import (
    TTA_MODES,
    check_mode,
    distinct_mode,
    model_input_size,
    tta_scores,
    view_model,
    views,
    windows,
)


@pytest.fixture(scope="module")
def images():
    return make_images(3, seed=5)


def test_views_are_the_crops_and_their_mirrors(images):
    tl, tr, bl, br, center, *mirrors = views(images, "tencrop", 40)
    for crop, expected in zip([tl, tr, bl, br, center],
                              [images[:, :40, :40], images[:, :40, 8:], images[:, 8:, :40],
                               images[:, 8:, 8:], images[:, 4:44, 4:44]]):
        assert crop.shape == (3, 40, 40) and crop.dtype == np.uint8
        np.testing.assert_array_equal(crop, expected)
    for mirror, crop in zip(mirrors, [tl, tr, bl, br, center]):
        np.testing.assert_array_equal(mirror, crop[:, :, ::-1])
    (none,) = views(images, "none", 40)
    np.testing.assert_array_equal(none, center)
    flip = views(images[..., None], "flip", 40)
    np.testing.assert_array_equal(flip[0], center)
    np.testing.assert_array_equal(flip[1], center[:, :, ::-1])


def test_full_size_views(images):
    (whole,) = views(images, "none", 48)
    np.testing.assert_array_equal(whole, images)
    ten = views(images, "tencrop", 48)
    assert len(ten) == 10
    for view in ten[:5]:
        np.testing.assert_array_equal(view, images)
    for view in ten[5:]:
        np.testing.assert_array_equal(view, images[:, :, ::-1])


@pytest.mark.parametrize("size", [40, 48])
@pytest.mark.parametrize("mode", TTA_MODES)
def test_windows_say_where_each_view_lies(images, mode, size):
    places = windows(mode, size)
    assert len(places) == len(views(images, mode, size)) == {"none": 1, "flip": 2,
                                                              "tencrop": 10}[mode]
    for (top, left, mirrored), view in zip(places, views(images, mode, size)):
        crop = images[:, top:top + size, left:left + size]
        np.testing.assert_array_equal(view, crop[:, :, ::-1] if mirrored else crop)
    assert windows("tencrop", 40, 48, 44)[:5] == [(0, 0, False), (0, 4, False), (8, 0, False),
                                                  (8, 4, False), (4, 2, False)]


def test_whole_face_ten_crops_are_scored_once_each(images):
    calls = []

    def score(view):
        calls.append(view.copy())
        return view.reshape(len(view), -1)[:, :7].astype("float32") * (1 + view[:, 0, :1])

    ten = tta_scores(score, images, "tencrop", 48)
    assert len(calls) == 2  # the face and its mirror, not five copies of each
    np.testing.assert_allclose(ten, np.mean([score(v) for v in views(images, "tencrop", 48)],
                                            axis=0), rtol=1e-6)
    assert distinct_mode("tencrop", 48) == "flip" and distinct_mode("tencrop", 40) == "tencrop"
    assert distinct_mode("tencrop", 44, 48, 44) == "tencrop"  # not all views the same there
    assert [distinct_mode(m, 48) for m in ("none", "flip")] == ["none", "flip"]


def test_views_errors(images):
    with pytest.raises(ValueError, match="Expected one of \\('none', 'flip', 'tencrop'\\)"):
        views(images, "fivecrop", 40)
    with pytest.raises(ValueError, match="size must be between 1 and the image side 48"):
        views(images, "none", 96)
    assert TTA_MODES == ("none", "flip", "tencrop")


def test_check_mode_is_the_one_check():
    assert [check_mode(mode) for mode in TTA_MODES] == list(TTA_MODES)
    for wrong in ("fivecrop", None, "", "Flip"):
        with pytest.raises(ValueError) as err:
            check_mode(wrong)
        assert str(err.value) == ("Unknown TTA mode. Expected one of ('none', 'flip', "
                                  f"'tencrop'). Received: tta={wrong!r}")


@pytest.mark.parametrize("mode", TTA_MODES)
def test_constant_scores_average_to_themselves(images, mode):
    constant = np.array([0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1], np.float32)
    seen = []

    def score_fn(view):
        seen.append(view.shape)
        return np.tile(constant, (len(view), 1))

    scores = tta_scores(score_fn, images, mode, 40)
    np.testing.assert_array_equal(scores, np.tile(constant, (3, 1)))
    assert scores.dtype == np.float32
    assert seen == [(3, 40, 40)] * {"none": 1, "flip": 2, "tencrop": 10}[mode]


def _mean_pixel_model(side):
    # A softmax of the mean pixel: a mirror image has the same mean, so the model is flip-invariant.
    inputs = keras.Input((side, side, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    outputs = keras.layers.Dense(7, activation="softmax",
                                 kernel_initializer=keras.initializers.RandomNormal(seed=0),
                                 bias_initializer=keras.initializers.RandomNormal(seed=1))(x)
    return keras.Model(inputs, outputs)


def test_flip_invariant_model(images):
    model = _mean_pixel_model(40)

    def score(view):
        return keras.ops.convert_to_numpy(model(view[..., None].astype("float32")))

    none, flip, ten = (tta_scores(score, images, mode, 40) for mode in TTA_MODES)
    np.testing.assert_allclose(flip, none, atol=1e-6)
    five = np.mean([score(view) for view in views(images, "tencrop", 40)[:5]], axis=0)
    np.testing.assert_allclose(ten, five, atol=1e-6)
    assert not np.allclose(ten, none, atol=1e-6)
    whole = _mean_pixel_model(48)
    assert model_input_size(whole) == 48

    def score48(view):
        return keras.ops.convert_to_numpy(whole(view[..., None].astype("float32")))

    np.testing.assert_allclose(tta_scores(score48, images, "tencrop", 48),
                               tta_scores(score48, images, "flip", 48), atol=1e-6)


@pytest.mark.parametrize("shape, size", [((40, 40, 1), 40), ((48, 48, 1), 48),
                                         ((96, 96, 3), 48), ((None, None, 1), 48)])
def test_model_input_size(shape, size):
    inputs = keras.Input(shape)
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    assert model_input_size(model) == size


@pytest.mark.parametrize("mode", TTA_MODES)
def test_view_model_is_tta_scores_in_one_graph(images, mode):
    network = _mean_pixel_model(40)
    faces_model = view_model(network, mode)
    assert faces_model.input_shape == (None, 48, 48, 1)

    def score(view):
        return keras.ops.convert_to_numpy(network(view[..., None].astype("float32")))

    got = keras.ops.convert_to_numpy(faces_model(images[..., None].astype("float32")))
    np.testing.assert_allclose(got, tta_scores(score, images, mode, 40), atol=1e-6)


def test_view_model_of_a_whole_face_network(images):
    whole = _mean_pixel_model(48)
    assert view_model(whole, "none") is whole
    flip = view_model(whole, "flip")
    assert flip is not whole and flip.input_shape == (None, 48, 48, 1)
    with pytest.raises(ValueError, match="Unknown TTA mode"):
        view_model(whole, "fivecrop")
