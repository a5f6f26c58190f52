"""Property-based tests of the CSV parser (hypothesis).

The compiled kernel must agree with the plain-Python reference parser on any input: a valid file
round-trips exactly through convert → load, and a corrupted one gives the reference's clear error,
never a crash and never an image that differs from what the file says.
"""

import gzip
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_keras import USAGES
from fer_keras.data import parse
from fer_keras.data.convert import convert
from fer_keras.data.loading import load_png_tree
from fer_keras.data.parse import FER2013Error, parse_chunk, parse_file, parse_header

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@st.composite
def fer_files(draw):
    """(file bytes, images, labels, usage names) for a random valid variant of a FER2013 CSV."""
    n = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, n)
    usages = [USAGES[i] for i in rng.integers(0, 3, n)]
    columns = draw(st.sampled_from([("emotion", "pixels", "Usage"), ("emotion", "Usage", "pixels"),
                                    ("pixels", "Usage", "emotion"), ("emotion", "pixels"),
                                    ("pixels",)]))
    pad = draw(st.sampled_from(["", " "]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    sep = draw(st.sampled_from([" ", "  ", "\t"]))
    lines = [",".join(pad + c for c in columns)]
    for img, lab, use in zip(images, labels, usages):
        field = {"emotion": str(lab), "Usage": use,
                 "pixels": sep.join(map(str, img.ravel()))}
        lines.append(",".join(pad + field[c] for c in columns))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 2]))
    data = text.encode()
    if "Usage" not in columns:
        usages = ["Training" if "emotion" in columns else "Test"] * n
    if "emotion" not in columns:
        labels = np.full(n, -1)
    return data, images, labels, usages


def write(tmp_path, data, gz):
    path = tmp_path / ("f.csv.gz" if gz else "f.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@FUZZ
@given(fer_files(), st.booleans())
def test_valid_files_round_trip_exactly(tmp_path_factory, file, gz):
    data, images, labels, usages = file
    tmp = tmp_path_factory.mktemp("rt")
    path = write(tmp, data, gz)
    table = parse_file(path, workers=2)
    np.testing.assert_array_equal(table.images, images)
    np.testing.assert_array_equal(table.labels, labels)
    tree = load_png_tree(tmp / "out") if convert(path, tmp / "out", progress=False) else None
    for usage in dict.fromkeys(usages):
        mask = np.array(usages) == usage
        np.testing.assert_array_equal(tree[usage][0], images[mask])
        np.testing.assert_array_equal(tree[usage][1], labels[mask])


def reference(data, path):
    layout = parse_header(data, path)
    body = data[data.index(b"\n") + 1:] if b"\n" in data else b""
    return parse_chunk(body.rstrip(b"\r\n \t") + b"\n", 2, layout, path)


@FUZZ
@given(fer_files(), st.lists(st.tuples(st.floats(0, 1), st.sampled_from(
    [b"", b",", b" ", b"x", b"-", b"9", b"999", b"\n", b"\r", b"\"", b"\x00", b"7", b"."])),
    min_size=1, max_size=3), st.booleans())
def test_corruptions_give_the_reference_error_or_the_reference_rows(tmp_path_factory, file, edits,
                                                                    mapped):
    data = file[0]
    for where, insert in edits:
        i = int(where * (len(data) - 1))
        data = data[:i] + insert + data[i + 1:]
    path = write(tmp_path_factory.mktemp("cx"), data, gz=False)
    try:
        expected = reference(data, path)
    except FER2013Error as e:
        expected = e
    # mapped: the file memory-mapped and cut into chunks of about a line each, as a large file is
    small = {"_MAP_MIN": 0, "_MIN_CHUNK": 1} if mapped else {"_MAP_MIN": 1 << 40}
    try:
        with mock.patch.multiple(parse, **small):
            got = parse_file(path, workers=3)
    except FER2013Error as e:
        assert isinstance(expected, FER2013Error), f"kernel rejected a valid file: {e}"
        assert str(e) == str(expected) or e.line == expected.line
        return
    assert not isinstance(expected, FER2013Error), f"kernel accepted a bad file: {expected}"
    pixels, labels, usage = expected
    np.testing.assert_array_equal(got.images.reshape(len(labels), -1), pixels)
    np.testing.assert_array_equal(got.labels, labels)
    np.testing.assert_array_equal(got.usage, usage)
