"""tf.data pipelines: shapes, seeding, augmentation, cropping, erasing, equalisation, resizing."""

import numpy as np
import pytest
from conftest import make_images

from fer_keras.pipeline import augmentation, equalize_images, make_dataset
from fer_keras.tta import views


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
    names = [layer.name for layer in augmentation({"shear": 0.1, "zoom": 0.0}).layers]
    assert any("shear" in n for n in names) and not any("zoom" in n for n in names)
    with pytest.raises(ValueError, match="Unknown augmentation keys"):
        augmentation({"blur": 1})


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
