"""tf.data pipelines: shapes, seeding, augmentation, equalisation, resizing."""

import numpy as np
import pytest
from conftest import make_images

from fer_keras.pipeline import augmentation, equalize_images, make_dataset


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
