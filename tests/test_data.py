"""The loader: exact arrays from CSV and PNG tree, the cache, FER+, splits and weights."""

import os

import numpy as np
import pytest
from helpers import make_fer_csv, write_csv

from fer_keras import CLASS_NAMES
from fer_keras.data import parse
from fer_keras.data.convert import convert
from fer_keras.data.ferplus import load_ferplus
from fer_keras.data.loading import (
    class_names,
    class_weights,
    load_dataset,
    load_fer2013,
    load_png_tree,
    merge_disgust,
    sample_path,
    stratified_kfold,
    subset,
)
from fer_keras.data.parse import FER2013Error


def expected_split(images, labels, usages):
    usages = np.array(usages)
    return {u: (images[usages == u], labels[usages == u]) for u in dict.fromkeys(usages)}


def assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0])
        np.testing.assert_array_equal(a[k][1], b[k][1])
        assert a[k][0].dtype == np.uint8 and a[k][0].shape[1:] == (48, 48)


def test_load_fer2013_exact(fer_csv):
    path, rows = fer_csv
    assert_same(load_fer2013(path, cache=False), expected_split(*rows))


def test_png_tree_reads_back_identical_arrays(fer_csv, tmp_path):
    path, rows = fer_csv
    convert(path, tmp_path / "tree", progress=False)
    assert_same(load_png_tree(tmp_path / "tree"), load_fer2013(path, cache=False))
    assert_same(load_dataset(tmp_path / "tree"), expected_split(*rows))


def test_parallel_parse_equals_serial(tmp_path, monkeypatch):
    path, rows = make_fer_csv(tmp_path / "f.csv.gz", n_per_class_usage=20)
    monkeypatch.setattr(parse, "_MIN_CHUNK", 50_000)
    for workers in (1, 3):
        assert_same(load_fer2013(path, cache=False, workers=workers), expected_split(*rows))
    bad = tmp_path / "bad.csv"
    _, (images, labels, usages) = make_fer_csv(bad, n_per_class_usage=20)
    text = bad.read_text().splitlines()
    text[401] = text[401].replace(",PublicTest", ",Public")  # in the third of three chunks
    bad.write_text("\n".join(text))
    with pytest.raises(FER2013Error, match=f"{bad}:402: unknown Usage 'Public'"):
        load_fer2013(bad, cache=False, workers=3)


def test_cache_is_used_and_invalidated(tmp_path):
    path, rows = make_fer_csv(tmp_path / "f.csv", seed=1)
    first = load_fer2013(path)
    cache = tmp_path / "f.csv.fer_keras-cache.npz"
    assert cache.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert_same(load_fer2013(path), first)
    # same size, new content and mtime: the cache must not be served
    _, rows2 = make_fer_csv(path, seed=2)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert_same(load_fer2013(path), expected_split(*rows2))


def test_corrupt_cache_is_rebuilt(tmp_path):
    path, rows = make_fer_csv(tmp_path / "f.csv")
    load_fer2013(path)
    (tmp_path / "f.csv.fer_keras-cache.npz").write_bytes(b"garbage")
    assert_same(load_fer2013(path), expected_split(*rows))


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    path, rows = make_fer_csv(tmp_path / "f.csv")

    def refuse(*args):
        raise PermissionError(13, "read-only folder")

    monkeypatch.setattr(os, "replace", refuse)  # loading calls os.replace at write time
    assert_same(load_fer2013(path), expected_split(*rows))
    assert sorted(os.listdir(tmp_path)) == ["f.csv"], "no cache and no temporary file left"


def test_loader_errors_name_the_line(tmp_path):
    good = "0," + " ".join(["1"] * 2304) + ",Training"
    path = write_csv(tmp_path / "f.csv", [good, "8,1,Training"])
    with pytest.raises(FER2013Error) as err:
        load_fer2013(path)
    assert str(err.value).startswith(f"{path}:3: ")
    with pytest.raises(FER2013Error, match="no such folder"):
        load_png_tree(tmp_path / "missing")


def test_embedded_sample():
    data = load_fer2013(sample_path(), cache=False)
    assert list(data) == ["Training", "PublicTest"]
    assert len(data["Training"][1]) == 1200 and len(data["PublicTest"][1]) == 401
    for _, labels in data.values():
        assert set(labels) == set(range(7))


def test_ferplus(tmp_path):
    header = ("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
              "unknown,NF")
    lines = ["Training,fer0000000.png,4,0,0,1,3,2,0,0,0,0",   # neutral
             "Training,fer0000001.png,0,9,1,0,0,0,0,0,0,0",   # happy
             "PublicTest,,0,0,0,0,0,0,0,0,0,10",              # no image
             "PublicTest,fer0000003.png,0,0,0,0,0,0,0,6,4,0",  # contempt: no FER2013 class
             "PrivateTest,fer0000004.png,5,5,0,0,0,0,0,0,0,0"]  # tie
    path = write_csv(tmp_path / "fer2013new.csv", lines, header=header)
    fp = load_ferplus(path)
    np.testing.assert_array_equal(fp["labels"], [6, 3, -1, -1, -1])
    np.testing.assert_array_equal(fp["has_image"], [True, True, False, True, True])
    assert fp["votes"].shape == (5, 10) and fp["votes"][1, 1] == 9
    with pytest.raises(FER2013Error, match="missing FER\\+ column"):
        load_ferplus(write_csv(tmp_path / "x.csv", ["1"], header="Usage"))


def test_merge_disgust_gives_six_classes():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, -1, 1])
    merged = merge_disgust(labels)
    np.testing.assert_array_equal(merged, [0, 0, 1, 2, 3, 4, 5, -1, 0])
    assert merged.dtype == np.int64 and merge_disgust([]).shape == (0,)
    names = class_names(merge_disgust=True)
    assert names == ("angry", "fear", "happy", "sad", "surprise", "neutral")
    assert class_names() == CLASS_NAMES
    # every non-disgust class keeps its name
    assert all(names[merged[i]] == CLASS_NAMES[i] for i in range(7) if i != 1)
    assert class_weights(merged[merged >= 0], num_classes=len(names))[0] > 0
    with pytest.raises(ValueError, match="0..6"):
        merge_disgust([7])


def test_subset_weights_folds():
    labels = np.repeat(np.arange(7), [40, 10, 40, 80, 50, 30, 50])
    images = np.arange(len(labels))
    x, y = subset(images, labels, 0.5, seed=0)
    assert len(y) == len(labels) // 2 and np.all(np.diff(x) > 0)
    np.testing.assert_allclose(np.bincount(y), np.bincount(labels) / 2, atol=1)
    np.testing.assert_array_equal(subset(images, labels, 0.5, seed=0)[0], x)
    with pytest.raises(ValueError, match="fraction"):
        subset(images, labels, 0)
    w = class_weights(labels)
    assert w[1] == pytest.approx(len(labels) / (7 * 10)) and w[3] < 1 < w[1]
    folds = stratified_kfold(labels, 4, seed=0)
    assert len(folds) == 4
    val = np.concatenate([v for _, v in folds])
    assert sorted(val) == list(range(len(labels)))
    for tr, va in folds:
        assert not set(tr) & set(va)
        assert np.bincount(labels[va])[1] in (2, 3)


def test_a_fresh_cache_is_served_and_a_stale_one_is_not(tmp_path, monkeypatch):
    """The second load reads the cache, not the CSV; a changed CSV is parsed again."""
    from fer_keras.data import loading

    path, _ = make_fer_csv(tmp_path / "f.csv", n_per_class_usage=3)
    first = load_fer2013(path)
    parsed = []
    parse_file = loading.parse_file
    monkeypatch.setattr(loading, "parse_file", lambda *a, **k: parsed.append(1) or parse_file(
        *a, **k))
    again = load_fer2013(path)
    assert not parsed  # served from the cache
    assert all(np.array_equal(first[s][0], again[s][0]) for s in first)
    with open(path, "a") as f:  # one more PublicTest row: size and mtime change
        f.write("3," + " ".join(["7"] * 2304) + ",PublicTest\n")
    assert len(load_fer2013(path)["PublicTest"][1]) == len(first["PublicTest"][1]) + 1
    assert parsed == [1]
