"""The converter: contract layout, exact pixels, variants, clear errors with nothing written."""

import gzip
import json
import mmap
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import fer_lines, make_fer_csv, make_images, write_csv

from fer_keras import CLASS_NAMES
from fer_keras.commands.convert import main  # the converter's command line (one error path)
from fer_keras.data import parse
from fer_keras.data.convert import JOURNAL, convert, finish_swap


def tree_files(out):
    return sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.is_file())


def check_tree(out, images, labels, usages, width=5):
    for row, (img, lab, use) in enumerate(zip(images, labels, usages)):
        folder = "unlabeled" if lab < 0 else f"{lab}_{CLASS_NAMES[lab]}"
        png = cv2.imread(str(Path(out) / use / folder / f"{row:0{width}d}.png"),
                         cv2.IMREAD_UNCHANGED)
        assert png is not None, (use, folder, row)
        assert png.dtype == np.uint8 and png.shape == (48, 48)
        np.testing.assert_array_equal(png, img)


@pytest.mark.parametrize("workers", [1, 2])
def test_convert_writes_contract_tree_pixel_exact(fer_csv, tmp_path, workers):
    path, (images, labels, usages) = fer_csv
    out = tmp_path / "out"
    assert main(["--csv", str(path), "--out", str(out), "--workers", str(workers), "--quiet"]) == 0
    check_tree(out, images, labels, usages)
    assert len(tree_files(out)) == len(labels)
    for use in ("Training", "PublicTest", "PrivateTest"):
        assert sorted(os.listdir(out / use)) == [f"{i}_{n}" for i, n in enumerate(CLASS_NAMES)]
    assert not [p for p in os.listdir(out) if p.startswith(".")]


def test_data_and_csv_are_the_same_flag(fer_csv, tmp_path, capsys):
    path, (images, labels, usages) = fer_csv
    assert main(["--data", str(path), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["--csv", str(path), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert tree_files(tmp_path / "a") == tree_files(tmp_path / "b")
    check_tree(tmp_path / "a", images, labels, usages)
    assert main(["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'missing.csv'}")


def test_convert_creates_folders_for_absent_classes(tmp_path):
    images = make_images(2)
    path = write_csv(tmp_path / "f.csv", fer_lines(images, [3, 3], ["Training"] * 2))
    tree = convert(path, tmp_path / "out", progress=False)
    assert list(tree) == ["Training"]
    assert tree["Training"]["3_happy"] == 2 and tree["Training"]["0_angry"] == 0


def test_variants_convert(tmp_path):
    images = make_images(6, seed=1)
    labels = [0, 1, 2, 3, 4, 5]
    usages = ["Training", "PublicTest", "PrivateTest"] * 2
    # icml_face_data.csv: spaces in the header, another column order, CRLF, no final newline
    icml = [f"{lab},{use},{' '.join(map(str, img.ravel()))}"
            for img, lab, use in zip(images, labels, usages)]
    path = write_csv(tmp_path / "icml_face_data.csv.gz", icml, header="emotion, Usage, pixels",
                     newline="\r\n", final_newline=False)
    convert(path, tmp_path / "icml", progress=False)
    check_tree(tmp_path / "icml", images, labels, usages)
    # Kaggle train.csv: no Usage column → every row is Training
    train = [f"{lab},{' '.join(map(str, img.ravel()))}" for img, lab in zip(images, labels)]
    convert(write_csv(tmp_path / "train.csv", train, header="emotion,pixels"), tmp_path / "tr",
            progress=False)
    check_tree(tmp_path / "tr", images, labels, ["Training"] * 6)
    # Kaggle test.csv: pixels only → Test/unlabeled
    test = [" ".join(map(str, img.ravel())) for img in images]
    convert(write_csv(tmp_path / "test.csv", test, header="pixels"), tmp_path / "te",
            progress=False)
    check_tree(tmp_path / "te", images, [-1] * 6, ["Test"] * 6)


GOOD = " ".join(["7"] * 2304)
BAD_CASES = {
    "wrong pixel count": ("emotion,pixels,Usage", f"0,{' '.join(['7'] * 2303)},Training",
                          "expected 2304 pixels, found 2303"),
    "non-integer pixel": ("emotion,pixels,Usage", "0," + GOOD.replace("7", "7.5", 1) + ",Training",
                          "pixel 1 is '7.5', not an integer"),
    "word pixel": ("emotion,pixels,Usage", "0," + GOOD[:-1] + "x,Training",
                   "pixel 2304 is 'x', not an integer"),
    "pixel over 255": ("emotion,pixels,Usage", "0," + GOOD[:-1] + "256,Training",
                       "pixel 2304 is 256, outside 0..255"),
    "negative pixel": ("emotion,pixels,Usage", "0,-1" + GOOD[1:] + ",Training",
                       "pixel 1 is -1, outside 0..255"),
    "emotion 7": ("emotion,pixels,Usage", f"7,{GOOD},Training", "emotion '7' is not an integer"),
    "unknown usage": ("emotion,pixels,Usage", f"0,{GOOD},Validation",
                      "unknown Usage 'Validation'; accepted: Training, PublicTest, PrivateTest"),
    "missing column": ("emotion,Usage", "0,Training", "missing column 'pixels'"),
    "extra field": ("emotion,pixels,Usage", f"0,{GOOD},Training,x", "an extra field"),
    "missing field": ("emotion,pixels,Usage", f"0,{GOOD}", "a missing field"),
    "unknown column": ("emotion,pixels,Usage,notes", f"0,{GOOD},Training,x",
                       "unknown column 'notes'"),
}


@pytest.fixture(params=["read", "mapped"])
def reading(request, monkeypatch):
    """Each bad-input test twice: the file read into memory, and memory-mapped in small chunks."""
    mapped = request.param == "mapped"
    monkeypatch.setattr(parse, "_MAP_MIN", 0 if mapped else 1 << 40)
    monkeypatch.setattr(parse, "_MIN_CHUNK", 1 if mapped else parse._MIN_CHUNK)
    return request.param


def run_bad(tmp_path, capsys, csv):
    out = tmp_path / "out"
    code = main(["--csv", str(csv), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() or not os.listdir(out), "nothing may be written"
    return err


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_malformed_row_names_file_and_line(tmp_path, capsys, case, reading):
    header, bad, expected = BAD_CASES[case]
    good = f"3,{GOOD},Training" if header == "emotion,pixels,Usage" else None
    lines = [good, good, bad, good] if good else [bad]
    csv = write_csv(tmp_path / "bad.csv", lines, header=header)
    err = run_bad(tmp_path, capsys, csv)
    line = 4 if good else (1 if "column" in case else 2)
    assert f"{csv}:{line}: " in err and expected in err, err


def test_bad_line_deep_in_a_large_file_is_located(tmp_path, capsys, reading):
    images = make_images(400)
    lines = fer_lines(images, [1] * 400, ["Training"] * 400)
    lines[345] = lines[345].replace(",Training", ",Train")
    csv = write_csv(tmp_path / "big.csv", lines)
    assert f"{csv}:347: unknown Usage 'Train'" in run_bad(tmp_path, capsys, csv)
    for workers in (1, 3, 7):  # the line is counted right from any chunk
        with pytest.raises(parse.FER2013Error, match=f"{csv}:347: unknown Usage"):
            parse.parse_file(csv, workers=workers)


def test_large_plain_files_are_mapped_and_parsed_exactly(tmp_path, monkeypatch):
    calls, real_mmap = [], mmap.mmap

    def spy(*args, **kwargs):
        calls.append(args)
        return real_mmap(*args, **kwargs)

    monkeypatch.setattr(mmap, "mmap", spy)
    images = make_images(130, seed=3)  # 130 rows of ~9 KB: over _MAP_MIN (1 MiB)
    labels, usages = [i % 7 for i in range(130)], ["Training", "PublicTest"] * 65
    lines = fer_lines(images, labels, usages)
    plain = write_csv(tmp_path / "f.csv", lines, newline="\r\n", final_newline=False)
    gz = write_csv(tmp_path / "f.csv.gz", lines)
    assert plain.stat().st_size >= parse._MAP_MIN
    for path, mapped in ((plain, 1), (gz, 0)):
        calls.clear()
        table = parse.parse_file(path, workers=3)
        assert len(calls) == mapped
        np.testing.assert_array_equal(table.images, images)
        np.testing.assert_array_equal(table.labels, labels)
        assert [parse.ALL_USAGES[u] for u in table.usage] == usages


@pytest.mark.parametrize("case", ["empty", "header only", "truncated gzip", "binary", "missing",
                                  "directory", "blank line"])
def test_bad_files(tmp_path, capsys, case, reading):
    csv = tmp_path / "f.csv"
    if case == "empty":
        csv.write_bytes(b"")
        expected = "the file is empty"
    elif case == "header only":
        csv.write_text("emotion,pixels,Usage\n")
        expected = ":2: no data rows"
    elif case == "truncated gzip":
        csv = tmp_path / "f.csv.gz"
        make_fer_csv(tmp_path / "full.csv.gz")
        csv.write_bytes((tmp_path / "full.csv.gz").read_bytes()[:-100])
        expected = "truncated or corrupt gzip data"
    elif case == "binary":
        csv.write_bytes(bytes(range(256)) * 10)
        expected = "not a CSV file"
    elif case == "missing":
        csv = tmp_path / "nope.csv"
        expected = "no such file"
    elif case == "directory":
        csv = tmp_path
        expected = "is a directory"
    else:
        csv = write_csv(csv, [f"0,{GOOD},Training", "", f"0,{GOOD},Training"])
        expected = ":3: an empty line"
    err = run_bad(tmp_path, capsys, csv)
    assert str(csv) in err and expected in err, err


def test_existing_tree_needs_overwrite_and_is_replaced_whole(tmp_path, capsys):
    out = tmp_path / "out"
    make_fer_csv(tmp_path / "a.csv", seed=1)
    path, (images, labels, usages) = make_fer_csv(tmp_path / "b.csv", usages=("Training",), seed=2)
    assert main(["--csv", str(tmp_path / "a.csv"), "--out", str(out), "--quiet"]) == 0
    before = tree_files(out)
    assert main(["--csv", str(path), "--out", str(out), "--quiet"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert tree_files(out) == before
    assert main(["--csv", str(path), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["Training"], "old splits must not survive an overwrite"
    check_tree(out, images, labels, usages)


def test_failed_overwrite_keeps_old_tree(tmp_path):
    out = tmp_path / "out"
    path, _ = make_fer_csv(tmp_path / "a.csv")
    convert(path, out, progress=False)
    before = tree_files(out)
    bad = write_csv(tmp_path / "bad.csv", [f"9,{GOOD},Training"])
    with pytest.raises(ValueError, match="emotion '9'"):
        convert(bad, out, overwrite=True, progress=False)
    assert tree_files(out) == before
    assert sorted(os.listdir(out)) == ["PrivateTest", "PublicTest", "Training"]


def test_killed_swap_is_rolled_forward(tmp_path):
    """A run killed between the swap's renames leaves a journal; the next reader completes it."""
    out = tmp_path / "out"
    convert(make_fer_csv(tmp_path / "old.csv", seed=1)[0], out, progress=False)
    path, (images, labels, usages) = make_fer_csv(tmp_path / "new.csv", seed=2)
    staging = tmp_path / "staging"
    convert(path, staging, progress=False)
    tmp, old = out / ".fer_keras_tmp_1_x", out / ".fer_keras_old_1_x"
    tmp.mkdir(), old.mkdir()
    for use in ("PublicTest", "PrivateTest"):
        (staging / use).rename(tmp / use)
    (out / "Training").rename(old / "Training")  # killed here: Training already swapped,
    (staging / "Training").rename(out / "Training")  # the other two not yet
    (out / JOURNAL).write_text(json.dumps({"tmp": tmp.name, "old": old.name,
                                           "usages": ["Training", "PublicTest", "PrivateTest"]}))
    finish_swap(out)
    check_tree(out, images, labels, usages)
    assert sorted(os.listdir(out)) == ["PrivateTest", "PublicTest", "Training"]


def test_cli_subprocess(fer_csv, tmp_path):
    path, (images, labels, usages) = fer_csv
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fer_keras.utils", "--csv", str(path), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(labels)} images" in done.stdout and "3_happy" in done.stdout
    check_tree(out, images, labels, usages)
    with gzip.open(tmp_path / "bad.csv.gz", "wt") as f:
        f.write("emotion,pixels,Usage\n1,2 3,Training\n")
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "bad.csv.gz"), "--out", str(tmp_path / "o2")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    expected = f"error: {tmp_path / 'bad.csv.gz'}:2: expected 2304 pixels, found 2"
    assert bad.stderr.strip() == expected
    assert not (tmp_path / "o2").exists() or not os.listdir(tmp_path / "o2")


def test_each_folder_is_written_by_one_thread(fer_csv):
    from fer_keras.data.convert import _folder_shares
    from fer_keras.data.parse import parse_file
    path, (_, labels, _) = fer_csv
    table = parse_file(path)
    shares = _folder_shares(table, 3)
    folders = [folder for share in shares for folder, _ in share]
    assert len(folders) == len(set(folders))  # no folder shared between threads
    rows = np.sort(np.concatenate([r for share in shares for _, r in share]))
    np.testing.assert_array_equal(rows, np.arange(len(labels)))
    for share in shares:
        for folder, r in share:
            assert {os.path.join(str(table.usage[i]), str(table.labels[i])) for i in r} == \
                {os.path.join(str(table.usage[r[0]]), str(table.labels[r[0]]))}
    loads = sorted(sum(len(r) for _, r in share) for share in shares)
    biggest = max(len(r) for share in shares for _, r in share)
    assert loads[-1] - loads[0] <= biggest  # dealt largest first to the least loaded thread


def test_a_failing_write_leaves_nothing(fer_csv, tmp_path, monkeypatch):
    path, _ = fer_csv
    calls = []
    real = cv2.imencode

    def failing(ext, image):
        calls.append(1)
        if len(calls) == 7:
            raise OSError(28, "No space left on device")
        return real(ext, image)

    monkeypatch.setattr(cv2, "imencode", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        convert(path, out, workers=2, progress=False)
    assert not out.exists()  # the folder it made is gone too
