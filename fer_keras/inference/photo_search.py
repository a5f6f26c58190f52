"""Photos read and searched for faces ahead of the classifier, on a thread per core.

OpenCV's decoding and YuNet's search let go of Python's lock, so a thread-safe detector searches
each photo on the thread that read it (prepared by the detector's ``thread_started``: YuNet then
keeps its search on that thread's core, photos side by side). A detector that holds Python's lock
for a whole call (``holds_lock``) or is not thread-safe searches on one more thread while the
others read. :class:`EmotionRecognizer` classifies the faces found so far meanwhile.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import cv2

from fer_keras.inference.faces import ImageError

__all__ = ["PhotoSearch"]

#: what makes one photo a result with an error instead of ending the whole run
PHOTO_ERRORS = (OSError, ImageError, cv2.error)


class PhotoSearch:
    """``(item, (find(read(item)), None))`` or ``(item, (None, error))`` for each item, in
    order, computed ahead on ``workers`` threads (none when ``workers`` < 2).

    Args:
        detector: the face detector ``find`` uses (its ``thread_safe``, ``holds_lock`` and
            ``thread_started`` decide where it searches).
        workers: reading threads; their pools start on first use and live as long as this.
    """

    def __init__(self, detector, workers: int):
        self.detector, self.workers = detector, workers
        self._pool = self._searcher = None

    def __call__(self, read: Callable, find: Callable, items: Iterable,
                 serial: bool = False) -> Iterator:
        if serial or self.workers < 2:
            yield from (_search(find, item, _load(read, item)) for item in items)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fer_keras-detect",
                                            initializer=self._thread_started)
            self._searcher = ThreadPoolExecutor(1, thread_name_prefix="fer_keras-detect-search")
        shared = (getattr(self.detector, "thread_safe", False)
                  and not getattr(self.detector, "holds_lock", False))
        pending = deque()
        try:
            for item in items:
                if shared:
                    pending.append(self._pool.submit(
                        lambda i: _search(find, i, _load(read, i)), item))
                else:  # the search waits for its photo, read on the pool
                    pending.append(self._searcher.submit(
                        lambda i, read_ahead: _search(find, i, read_ahead.result()), item,
                        self._pool.submit(_load, read, item)))
                if len(pending) > 2 * self.workers:  # bounded: images wait decoded in memory
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def _thread_started(self) -> None:
        started = getattr(self.detector, "thread_started", None)
        if started is not None:
            started()


def _load(read, item):
    try:
        return read(item), None
    except PHOTO_ERRORS as e:
        return None, e


def _search(find, item, loaded):
    loaded, error = loaded
    if error is not None:
        return item, (None, error)
    try:
        return item, (find(loaded), None)
    except PHOTO_ERRORS as e:
        return item, (None, e)
