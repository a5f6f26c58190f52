"""The FER2013 CSV parser shared by the converter (`fer_keras.data.convert`) and the loaders.

Reads the variants people have into exact arrays, with one clear error per broken file. Columns may
come in any order; header names are trimmed and case-insensitive.

| file                 | columns                  | Usage given to rows |
|----------------------|--------------------------|---------------------|
| `fer2013.csv`        | `emotion,pixels,Usage`   | the column's value  |
| `icml_face_data.csv` | `emotion, Usage, pixels` | the column's value  |
| Kaggle `train.csv`   | `emotion,pixels`         | `Training`          |
| Kaggle `test.csv`    | `pixels`                 | `Test`, label -1    |

Files may be gzip-compressed, have CRLF line endings and lack a final newline. `parse_file` runs a
compiled one-pass kernel (`fer_keras.data.parse_kernel`) over the bytes, on every core;
`parse_chunk` is the plain reference that names what is wrong with a row the kernel rejects.
"""

from __future__ import annotations

import contextlib
import gzip
import mmap
import os
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fer_keras import CLASS_NAMES, IMAGE_SIZE, NUM_PIXELS, USAGES

#: Usage of the rows of a file without a Usage column but with labels (Kaggle's train.csv).
UNSPLIT_LABELLED = "Training"
#: Usage of the rows of a file without labels (Kaggle's test.csv); their label is -1.
UNLABELLED = "Test"
ALL_USAGES = USAGES + (UNLABELLED,)
NO_LABEL = -1

_COLUMNS = ("emotion", "pixels", "usage")
_EMOTIONS = {str(i).encode(): i for i in range(len(CLASS_NAMES))}
_USAGE_CODES = {u.encode(): i for i, u in enumerate(USAGES)}
_STRIP = b' \t\r"'
_MIN_CHUNK = 1 << 20  # smaller files are not worth a second thread
_MAP_MIN = 1 << 20  # smaller files are read, not memory-mapped
GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 65536  # how much of a file is looked at first (binary data, blank files)


class FER2013Error(ValueError):
    """A FER2013 file that cannot be read; `str()` is one line naming the file and line."""

    def __init__(self, path, line, message):
        super().__init__(path, line, message)
        self.path, self.line, self.message = str(path), line, message

    def __str__(self):
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Layout:
    """Where the columns of a file are, read from its header."""

    ncols: int
    emotion: int | None
    pixels: int
    usage: int | None

    @property
    def default_usage(self) -> int:
        return ALL_USAGES.index(UNSPLIT_LABELLED if self.emotion is not None else UNLABELLED)


@dataclass
class Table:
    """Every row of a FER2013 file, in file order.

    Attributes:
        images: uint8 `(n, 48, 48)`.
        labels: int64 `(n,)`, 0-6, or -1 for rows without a label.
        usage: int8 `(n,)`, an index into `ALL_USAGES`.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray

    def split(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each Usage present → (images, labels), rows in file order."""
        out = {}
        for code, name in enumerate(ALL_USAGES):
            mask = self.usage == code
            if mask.any():
                out[name] = (self.images[mask], self.labels[mask])
        return out


@contextlib.contextmanager
def file_bytes(path):
    """The file's bytes, gunzipped when it is gzip (by its magic number, not its name).

    A plain file of `_MAP_MIN` bytes or more is memory-mapped, not read: the kernel parses the
    page cache in place, which saves copying it (a third of a second for the 271 MB FER2013 CSV).
    Changing the file while it is being parsed is not supported.
    """
    path = os.fspath(path)
    mapped = None
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(2) != GZIP_MAGIC and size >= max(_MAP_MIN, 1):
                data = mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            else:
                f.seek(0)
                data = f.read()
    except FileNotFoundError:
        raise FER2013Error(path, None, "no such file") from None
    except IsADirectoryError:
        raise FER2013Error(path, None, "is a directory, not a CSV file") from None
    except OSError as e:
        raise FER2013Error(path, None, f"cannot read: {e.strerror}") from None
    try:
        if data[:2] == GZIP_MAGIC:
            try:
                data = gzip.decompress(data)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                raise FER2013Error(path, None, f"truncated or corrupt gzip data ({e})") from None
        if not data[:_HEAD_BYTES].strip() and not bytes(data).strip():
            raise FER2013Error(path, None, "the file is empty")
        yield data
    finally:
        if mapped is not None:
            try:
                mapped.close()
            except BufferError:
                pass  # an array over it lives on in a traceback; unmapped when that goes


def parse_header(data: bytes, path) -> Layout:
    """The column layout from the first line; errors name the accepted columns."""
    end = data.find(b"\n")
    head = data[: end if end >= 0 else len(data)]
    if b"\0" in head or b"\0" in data[:_HEAD_BYTES]:
        raise FER2013Error(path, 1, "not a CSV file (binary data)")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FER2013Error(path, 1, "not a CSV file (the header is not text)") from None
    names = [n.strip().strip('"').lower() for n in text.split(",")]
    accepted = "emotion, pixels, Usage"
    for n in names:
        if n not in _COLUMNS:
            shown = n if len(n) <= 40 else n[:40] + "..."
            raise FER2013Error(path, 1, f"unknown column {shown!r}; accepted columns: {accepted}")
    for n in _COLUMNS:
        if names.count(n) > 1:
            raise FER2013Error(path, 1, f"column {n!r} appears twice")
    if "pixels" not in names:
        raise FER2013Error(path, 1, f"missing column 'pixels' (header: {text.strip()!r})")
    pos = {n: names.index(n) if n in names else None for n in _COLUMNS}
    return Layout(len(names), pos["emotion"], pos["pixels"], pos["usage"])


def _bad_pixels(field: bytes) -> str:
    """Why a pixel field did not parse into 2,304 integers in 0-255 (only called on failure)."""
    tokens = [t for t in field.replace(b"\t", b" ").split(b" ") if t]
    for i, tok in enumerate(tokens):
        text = tok.decode("utf-8", "replace")
        try:
            value = int(tok)
        except ValueError:
            return f"pixel {i + 1} is {text!r}, not an integer"
        if not 0 <= value <= 255:
            return f"pixel {i + 1} is {text}, outside 0..255"
        if not tok.isdigit():
            return f"pixel {i + 1} is {text!r}, not a plain integer"
    return f"expected {NUM_PIXELS} pixels, found {len(tokens)}"


def parse_chunk(chunk: bytes, first_line: int, layout: Layout, path):
    """Parse complete lines; returns (pixels uint8 (n, 2304), labels int64, usage int8).

    `first_line` is the 1-based file line of the chunk's first line.
    """
    lines = chunk.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    n = len(lines)
    pixels = np.empty((n, NUM_PIXELS), np.int32)
    labels = np.full(n, NO_LABEL, np.int64)
    usage = np.full(n, layout.default_usage, np.int8)
    with warnings.catch_warnings():
        # NumPy warns (and will raise) on text it cannot parse; the count check catches it
        warnings.simplefilter("ignore", DeprecationWarning)
        for i, line in enumerate(lines):
            fields = line.split(b",")
            if len(fields) != layout.ncols:
                what = "an extra field" if len(fields) > layout.ncols else "a missing field"
                if not line.strip(_STRIP):
                    what = "an empty line"
                raise FER2013Error(path, first_line + i, f"{what}: expected {layout.ncols} "
                                   f"comma-separated fields, found {len(fields)}")
            if layout.emotion is not None:
                raw = fields[layout.emotion].strip(_STRIP)
                label = _EMOTIONS.get(raw)
                if label is None:
                    shown = raw.decode(errors="replace")
                    raise FER2013Error(path, first_line + i,
                                       f"emotion {shown!r} is not an integer in 0..6")
                labels[i] = label
            if layout.usage is not None:
                raw = fields[layout.usage].strip(_STRIP)
                code = _USAGE_CODES.get(raw)
                if code is None:
                    raise FER2013Error(path, first_line + i, f"unknown Usage "
                                       f"{raw.decode(errors='replace')!r}; accepted: "
                                       f"{', '.join(USAGES)}")
                usage[i] = code
            field = fields[layout.pixels].strip(_STRIP)
            try:
                row = np.fromstring(field, dtype=np.int32, sep=" ")
            except ValueError:
                row = np.empty(0, np.int32)
            if (row.size != NUM_PIXELS or field.translate(None, b"0123456789 \t")
                    or row.min() < 0 or row.max() > 255):
                raise FER2013Error(path, first_line + i, _bad_pixels(field))
            pixels[i] = row
    return pixels.astype(np.uint8), labels, usage


def chunk_bounds(data, start: int, stop: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Split `data[start:stop]` at line ends into ~`chunk_bytes` pieces: [(begin, end)]."""
    bounds = []
    while start < stop:
        end = data.find(b"\n", min(start + chunk_bytes, stop - 1), stop)
        end = stop if end < 0 else end + 1
        bounds.append((start, end))
        start = end
    return bounds


def default_workers() -> int:
    """Threads to use: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _data_span(data: bytes) -> tuple[int, int]:
    """Byte range of the data lines: after the header, before any trailing blank lines."""
    newline = data.find(b"\n")
    start = newline + 1 if newline >= 0 else len(data)
    stop = len(data)
    while stop > start and data[stop - 1] in b"\r\n \t":
        stop -= 1
    return start, stop


def _explain(data: bytes, begin: int, end: int, bad: int, first_line: int, layout, path):
    """Raise the reference parser's error for row `bad` of a chunk (the fast kernel found it)."""
    line = data[begin:end].split(b"\n")[bad]
    parse_chunk(line + b"\n", first_line + bad, layout, path)
    raise FER2013Error(path, first_line + bad, "this row cannot be parsed")


def parse_file(path, workers: int | None = None) -> Table:
    """Read and check every row of a FER2013 CSV (any variant above) into a `Table`.

    Args:
        path: `.csv` or gzip-compressed `.csv.gz`.
        workers: threads parsing in parallel (default: every CPU).

    Raises:
        FER2013Error: the file is missing, unreadable or malformed; the message names the line.
    """
    with file_bytes(path) as data:
        return _parse(data, path, default_workers() if workers is None else max(1, workers))


def _parse(data, path, workers: int) -> Table:
    from fer_keras.data import parse_kernel as kernel

    layout = parse_header(data, path)
    start, stop = _data_span(data)
    bounds = chunk_bounds(data, start, stop, max(_MIN_CHUNK, (stop - start) // workers + 1))
    buf = np.frombuffer(data, np.uint8)
    with ThreadPoolExecutor(max(1, len(bounds))) as pool:  # the kernels release the GIL
        newlines = list(pool.map(lambda b: kernel.count_newlines(buf, *b), bounds))
        rows = [k + (e == stop) for k, (_, e) in zip(newlines, bounds)]
        n = sum(rows)
        if n == 0:
            raise FER2013Error(path, 2, "no data rows after the header")
        images = np.empty((n, NUM_PIXELS), np.uint8)
        labels = np.empty(n, np.int64)
        usage = np.empty(n, np.int8)
        offsets = np.concatenate([[0], np.cumsum(rows)])
        columns = [-1 if c is None else c for c in (layout.emotion, layout.pixels, layout.usage)]

        def run(k):
            (b, e), r0, r1 = bounds[k], offsets[k], offsets[k + 1]
            return kernel.parse_rows(buf, b, e, layout.ncols, *columns, layout.default_usage,
                                     images[r0:r1], labels[r0:r1], usage[r0:r1],
                                     kernel.USAGE_TABLE, kernel.USAGE_LEN)

        results = list(pool.map(run, range(len(bounds))))
    lines = 2 + np.concatenate([[0], np.cumsum(newlines)])  # file line of each chunk's start
    for (b, e), line, (_, bad) in zip(bounds, lines, results):
        if bad >= 0:
            _explain(data, b, e, bad, int(line), layout, path)
    return Table(images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), labels, usage)
