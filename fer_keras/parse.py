"""The FER2013 CSV parser shared by the converter (`fer_keras.utils`) and the loader (`fer_keras.data`).

Reads the variants people have, into exact arrays, with one clear error per broken file:

| file                  | columns (any order, names trimmed, case-insensitive) | Usage given to rows |
|-----------------------|------------------------------------------------------|---------------------|
| `fer2013.csv`         | `emotion,pixels,Usage`                               | the column's value  |
| `icml_face_data.csv`  | `emotion, Usage, pixels`                             | the column's value  |
| Kaggle `train.csv`    | `emotion,pixels`                                     | `Training`          |
| Kaggle `test.csv`     | `pixels`                                             | `Test`, label -1    |

Files may be gzip-compressed, have CRLF line endings and lack a final newline. Pixels are parsed by
NumPy's C text parser one row at a time (`np.fromstring(..., sep=" ")`), which is about 5x faster than
`np.array(row.split())`; chunks of rows are parsed by worker processes when the file is large.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
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
_CHUNK_BYTES = 8 << 20
_PARALLEL_MIN_BYTES = 32 << 20


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

    @property
    def rows(self) -> np.ndarray:
        """The 0-based data row of each entry (row i is line i + 2 of the file)."""
        return np.arange(len(self.labels))

    def split(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each Usage present → (images, labels), rows in file order."""
        out = {}
        for code, name in enumerate(ALL_USAGES):
            mask = self.usage == code
            if mask.any():
                out[name] = (self.images[mask], self.labels[mask])
        return out


def read_bytes(path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (by its magic number, not its name)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FER2013Error(path, None, "no such file") from None
    except IsADirectoryError:
        raise FER2013Error(path, None, "is a directory, not a CSV file") from None
    except OSError as e:
        raise FER2013Error(path, None, f"cannot read: {e.strerror}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise FER2013Error(path, None, f"truncated or corrupt gzip data ({e})") from None
    if not data.strip():
        raise FER2013Error(path, None, "the file is empty")
    return data


def parse_header(data: bytes, path) -> Layout:
    """The column layout from the first line; errors name the accepted columns."""
    end = data.find(b"\n")
    head = data[: end if end >= 0 else len(data)]
    if b"\0" in head or b"\0" in data[:65536]:
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
    tokens = field.split()
    for i, tok in enumerate(tokens):
        text = tok.decode("utf-8", "replace")
        if not tok.isdigit():
            return f"pixel {i + 1} is {text!r}, not an integer"
        if int(tok) > 255:
            return f"pixel {i + 1} is {text}, outside 0..255"
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
        # NumPy warns (and will raise) when a row has text it cannot parse; the count check catches it.
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
                    raise FER2013Error(path, first_line + i, f"emotion {raw.decode(errors='replace')!r}"
                                       " is not an integer in 0..6")
                labels[i] = label
            if layout.usage is not None:
                raw = fields[layout.usage].strip(_STRIP)
                code = _USAGE_CODES.get(raw)
                if code is None:
                    raise FER2013Error(path, first_line + i, f"unknown Usage "
                                       f"{raw.decode(errors='replace')!r}; accepted: "
                                       f"{', '.join(USAGES)}")
                usage[i] = code
            field = fields[layout.pixels]
            if field[:1] in _STRIP or field[-1:] in _STRIP:  # strip() alone costs a copy per row
                field = field.strip(_STRIP)
            try:
                row = np.fromstring(field, dtype=np.int32, sep=" ")
            except ValueError:
                row = np.empty(0, np.int32)
            if row.size != NUM_PIXELS:
                raise FER2013Error(path, first_line + i, _bad_pixels(field))
            pixels[i] = row
    if n and (pixels.min() < 0 or pixels.max() > 255):
        bad = int(np.flatnonzero((pixels < 0).any(1) | (pixels > 255).any(1))[0])
        col = int(np.flatnonzero((pixels[bad] < 0) | (pixels[bad] > 255))[0])
        raise FER2013Error(path, first_line + bad,
                           f"pixel {col + 1} is {pixels[bad, col]}, outside 0..255")
    return pixels.astype(np.uint8), labels, usage


def chunk_bounds(data: bytes, start: int, stop: int, chunk_bytes: int = _CHUNK_BYTES):
    """Split `data[start:stop]` at line ends into ~`chunk_bytes` pieces: [(begin, end, first_line)]."""
    bounds, line = [], 2
    while start < stop:
        end = data.find(b"\n", min(start + chunk_bytes, stop - 1), stop)
        end = stop if end < 0 else end + 1
        bounds.append((start, end, line))
        line += data.count(b"\n", start, end)
        start = end
    return bounds


def _parse_job(args):
    chunk, first_line, layout, path = args
    return parse_chunk(chunk, first_line, layout, path)


def default_workers() -> int:
    """Worker processes to use: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def iter_jobs(data: bytes, layout: Layout, path, chunk_bytes: int = _CHUNK_BYTES):
    """Chunks of whole lines for `parse_chunk`: (bytes, first line, layout, path)."""
    start = data.find(b"\n") + 1 if b"\n" in data else len(data)
    stop = len(data)
    while stop > start and data[stop - 1] in b"\r\n \t":  # blank lines at the end are no rows
        stop -= 1
    for begin, end, line in chunk_bounds(data, start, stop, chunk_bytes):
        yield data[begin:end], line, layout, str(path)


def parse_file(path, workers: int | None = None) -> Table:
    """Read and check every row of a FER2013 CSV (any variant above) into a `Table`.

    Args:
        path: `.csv` or gzip-compressed `.csv.gz`.
        workers: processes parsing in parallel; default: every CPU when the file is large.

    Raises:
        FER2013Error: the file is missing, unreadable or malformed; the message names the line.
    """
    data = read_bytes(path)
    layout = parse_header(data, path)
    jobs = list(iter_jobs(data, layout, path))
    workers = default_workers() if workers is None else max(1, workers)
    if workers > 1 and len(data) >= _PARALLEL_MIN_BYTES:
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            parts = list(pool.map(_parse_job, jobs))
    else:
        parts = [_parse_job(job) for job in jobs]
    if not parts or not sum(len(p[1]) for p in parts):
        raise FER2013Error(path, 2, "no data rows after the header")
    pixels, labels, usage = (np.concatenate(p) for p in zip(*parts))
    return Table(pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), labels, usage)
