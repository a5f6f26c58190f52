"""tf.data pipelines: shapes, seeding, augmentation, cropping, erasing, equalisation, resizing."""

import cv2
import keras
import numpy as np
import pytest
from helpers import make_images

from fer_keras.data.pipeline import RandomAffine, augmentation, equalize_images, make_dataset
from fer_keras.evaluation.tta import views


@pytest.fixture(scope="module")
def arrays():
    return make_images(20, seed=3), np.arange(20) % 7


def batches(ds):
    return [tuple(t.numpy() for t in b) for b in ds]


def test_eval_pipeline_is_exact_and_ordered(arrays):
    x, y = arrays
    out = batches(make_dataset(x, y, batch_size=8))
    assert [b[0].shape for b in out] == [(8, 48, 48, 1), (8, 48, 48, 1), (4, 48, 48, 1)]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in out])[..., 0], x.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in out]), y)


def test_training_pipeline_seeded_shuffle_and_augment(arrays):
    x, y = arrays
    a = batches(make_dataset(x, y, batch_size=20, training=True, seed=1, augment=True))
    b = batches(make_dataset(x, y, batch_size=20, training=True, seed=1, augment=True))
    np.testing.assert_array_equal(a[0][1], b[0][1])
    np.testing.assert_allclose(a[0][0], b[0][0])
    assert sorted(a[0][1]) == sorted(y) and not np.array_equal(a[0][1], y)
    assert a[0][0].min() >= 0 and a[0][0].max() <= 255 and np.isfinite(a[0][0]).all()
    order = np.argsort(a[0][1], kind="stable")
    assert not np.allclose(a[0][0][order][..., 0], x[np.argsort(y, kind="stable")])


def test_resize_rgb_and_one_hot(arrays):
    x, y = arrays
    img, lab = batches(make_dataset(x, y, batch_size=4, image_size=96, channels=3,
                                    num_classes=7))[0]
    assert img.shape == (4, 96, 96, 3) and lab.shape == (4, 7)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])
    np.testing.assert_array_equal(lab.argmax(1), y[:4])


def test_equalize(arrays):
    x, _ = arrays
    low = (x // 4).astype(np.uint8)
    for method in ("hist", "clahe"):
        eq = equalize_images(low, method)
        assert eq.shape == low.shape and eq.dtype == np.uint8 and eq.max() > low.max()
    assert equalize_images(low, None) is low
    with pytest.raises(ValueError, match="Unknown equalize method"):
        equalize_images(low, "gamma")
    img = next(iter(make_dataset(low, None, batch_size=20, equalize="hist"))).numpy()
    np.testing.assert_array_equal(img[..., 0], equalize_images(low, "hist"))


def test_augmentation_config():
    assert augmentation(False) is None
    layers = augmentation({"shear": 0.1, "zoom": 0.0}).layers
    assert [type(layer).__name__ for layer in layers] == ["RandomFlip", "RandomAffine"]
    (affine,) = [layer for layer in layers if isinstance(layer, RandomAffine)]
    assert (affine.rotation, affine.shift, affine.zoom, affine.shear) == (10.0, 0.1, 0.0, 0.1)
    flip_only = augmentation({"shift": 0.0, "rotation": 0.0, "zoom": 0.0}).layers
    assert [type(layer).__name__ for layer in flip_only] == ["RandomFlip"]
    with pytest.raises(ValueError, match="Unknown augmentation keys"):
        augmentation({"blur": 1})


def _orientation(image):
    m = cv2.moments(image)
    return 0.5 * np.degrees(np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"]))


def test_random_affine_draws_each_transform_in_its_range():
    bar = np.zeros((64, 48, 48, 1), np.float32)
    bar[:, 23:25, 8:40] = 255.0  # a horizontal bar through the center
    assert np.array_equal(RandomAffine(seed=0)(bar, training=True), bar)  # nothing to draw
    assert np.array_equal(RandomAffine(rotation=30.0, seed=0)(bar, training=False), bar)

    rotated = np.asarray(RandomAffine(rotation=30.0, seed=1)(bar, training=True))[..., 0]
    angles = np.array([_orientation(im) for im in rotated])
    assert np.abs(angles).max() <= 30.5 and np.abs(angles).max() > 20  # spread over ±30 degrees
    assert (angles > 5).any() and (angles < -5).any()

    dot = np.zeros((64, 48, 48, 1), np.float32)
    dot[:, 22:26, 22:26] = 255.0
    shifted = np.asarray(RandomAffine(shift=0.1, seed=2)(dot, training=True))[..., 0]
    centers = np.array([[cv2.moments(im)[k] / cv2.moments(im)["m00"] for k in ("m10", "m01")]
                        for im in shifted]) - 23.5
    assert np.abs(centers).max() <= 4.8 + 0.1 and np.abs(centers).max() > 3
    assert np.array_equal(shifted.sum(axis=(1, 2)) > 0, np.ones(64, bool))

    zoomed = np.asarray(RandomAffine(zoom=0.3, seed=3)(dot, training=True))[..., 0]
    areas = (zoomed > 127).sum(axis=(1, 2))
    assert areas.min() < 16 < areas.max()  # zoomed in and out about the center
    with pytest.raises(ValueError, match="zoom must be >= 0 and < 1"):
        RandomAffine(zoom=1.0)


def test_random_affine_matches_opencv_with_the_drawn_parameters():
    """One bilinear resampling by the matrix the layer composes from its draws, as OpenCV does."""
    faces = make_images(4, seed=3).astype(np.float32)
    layer = RandomAffine(rotation=15.0, shift=0.1, zoom=0.1, shear=0.1, seed=7)
    out = np.asarray(layer(faces[..., None], training=True))[..., 0]
    # The same draws: a fresh generator with the layer's seed.
    u = np.asarray(keras.random.uniform((4, 5), -1.0, 1.0,
                                        seed=keras.random.SeedGenerator(7)))
    for face, got, (r, z, k, sx, sy) in zip(faces, out, u):
        a = np.radians(15.0 * r)
        scale_rot = (1 + 0.1 * z) * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        m = scale_rot @ np.array([[1.0, 0.1 * k], [0.0, 1.0]])
        c = np.array([23.5, 23.5])
        offset = c - m @ c - np.array([0.1 * 48 * sx, 0.1 * 48 * sy])
        expected = cv2.warpAffine(face, np.hstack([m, offset[:, None]]), (48, 48),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT)
        assert not np.array_equal(got, face)
        # OpenCV rounds sample positions to 1/32 pixel: close everywhere, equal on average.
        diff = np.abs(got[6:42, 6:42] - expected[6:42, 6:42])
        assert diff.max() < 8 and diff.mean() < 1
    config = layer.get_config()
    assert RandomAffine.from_config(config).get_config() == config


def unshuffled(ds):
    """Images of a training pipeline put back in input order: its labels are the image indices."""
    images, ids = (np.concatenate(parts) for parts in zip(*batches(ds)))
    return images[np.argsort(ids)][..., 0]


NO_AUGMENT = {"flip": False, "shift": 0.0, "rotation": 0.0, "zoom": 0.0}


def test_crop_per_image_seeded_and_centered_in_evaluation(arrays):
    x, _ = arrays
    ids = np.arange(len(x))

    def crops(seed):
        return make_dataset(x, ids, batch_size=8, training=True, seed=seed, crop=40)

    assert [b[0].shape for b in batches(crops(1))] == [(8, 40, 40, 1)] * 2 + [(4, 40, 40, 1)]
    ds = crops(1)
    same, next_epoch = unshuffled(ds), unshuffled(ds)
    np.testing.assert_array_equal(unshuffled(crops(1)), same)
    assert not np.array_equal(same, unshuffled(crops(2)))
    assert not np.array_equal(same, next_epoch)
    # Without other augmentation every crop is a window of its own image, at its own position.
    offsets = set()
    for crop, image in zip(same, x):
        found = [(r, c) for r in range(9) for c in range(9)
                 if np.array_equal(image[r:r + 40, c:c + 40], crop)]
        assert found
        offsets.update(found)
    assert len(offsets) > 5
    center = next(iter(make_dataset(x, ids, batch_size=20, crop=40)))[0].numpy()[..., 0]
    np.testing.assert_array_equal(center, views(x, "none", 40)[0])
    with pytest.raises(ValueError, match="crop must be between 1 and the image side 48"):
        make_dataset(x, ids, crop=49)


def test_crop_with_full_augmentation(arrays):
    x, y = arrays
    augment = {"resized_crop": [0.8, 1.2], "shift": 0.2, "erasing": 0.5}
    img, lab = batches(make_dataset(x, y, batch_size=20, training=True, seed=1, crop=40,
                                    augment=augment, image_size=96, channels=3))[0]
    assert img.shape == (20, 96, 96, 3) and np.isfinite(img).all()
    assert img.min() >= 0 and img.max() <= 255


def test_erasing(arrays):
    x, _ = arrays
    ids = np.arange(len(x))

    def erased(p, value=None):
        ds = make_dataset(x, ids, batch_size=8, training=True, seed=4,
                          augment={**NO_AUGMENT, "erasing": p, "erasing_value": value})
        return unshuffled(ds)

    np.testing.assert_array_equal(erased(0.0), x)
    out = erased(1.0)
    for image, original in zip(out, x):
        rows, cols = np.nonzero(image != original)
        assert len(rows)
        area = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        assert area < 0.36 * 48 * 48  # one rectangle of at most ~1/3 of the image
    black = erased(1.0, value=0)
    changed = black != x
    assert changed.any(axis=(1, 2)).all() and (black[changed] == 0).all()
    with pytest.raises(ValueError, match="erasing is a probability"):
        augmentation({"erasing": 1.5})


def test_resized_crop_zooms_in_below_one():
    square = np.zeros((4, 48, 48), np.uint8)
    square[:, 12:36, 12:36] = 255
    zoom_in = {**NO_AUGMENT, "resized_crop": [0.25, 0.25]}
    out = next(iter(make_dataset(square, None, batch_size=4, training=True, augment=zoom_in)))
    assert (out.numpy() > 127).mean() > 0.9  # the central quarter fills the image
    with pytest.raises(ValueError, match="resized_crop is a range"):
        augmentation({"resized_crop": 0.8})
    with pytest.raises(ValueError, match="0 < low <= high <= 4"):
        augmentation({"resized_crop": [0.0, 1.2]})


def test_augmentation_order():
    names = [layer.name for layer in augmentation({"erasing": 0.5, "resized_crop": [0.8, 1.2]},
                                                  crop=40).layers]
    assert names[0] == "resized_crop" and names[-1] == "random_erasing"
    assert names[-2].startswith("random_crop_each")
    assert [layer.name for layer in augmentation(None, crop=40).layers][0].startswith(
        "random_crop_each")
    assert augmentation(None) is None
