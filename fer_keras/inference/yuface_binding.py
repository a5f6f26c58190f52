"""libfacedetection's YuNet from the ``yuface`` wheel, called without holding Python's lock.

The wheel's own ``yuface.yuface.detect`` holds Python's lock for the whole search and spreads it
over the cores with an OpenMP team, so two threads cannot search two photos at once: on 2 cores
its team of two costs 1.4 times the processor time of one thread (the team's threads wait for
each other) and nothing else runs meanwhile. The wheel also ships the library itself,
``libfacedetection.so``, whose one exported entry point ``facedetect_cnn`` (libfacedetection's
public C++ API, ``facedetectcnn.h``) is called here through :mod:`ctypes`, which lets go of the
lock during the call; and the OpenMP runtime it links, whose ``omp_set_num_threads`` keeps a
calling thread's searches on that thread. Then one thread per core searches its own photos.

Both give the same faces (the rows' first 15 columns; the wheel's function leaves its 16th, unused
column uninitialised). :func:`load` returns ``None`` where the library's symbol is not there (the
Windows wheel: its C++ names are decorated otherwise), and the wheel's function is used.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

__all__ = ["YuFaceLibrary", "load"]

#: ``facedetect_cnn`` as GCC decorates ``int *facedetect_cnn(unsigned char *result_buffer,
#: unsigned char *rgb_image_data, int width, int height, int step)``.
SYMBOL = "_Z14facedetect_cnnPhS_iii"
#: ``FACEDETECTION_RESULT_BUFFER_SIZE`` of ``facedetectcnn.h``: the result rows' buffer, bytes.
RESULT_BYTES = 0x9000


class YuFaceLibrary:
    """``facedetect_cnn`` of ``libfacedetection.so`` in ``folder`` (the ``yuface`` package), and
    ``omp_set_num_threads`` of the OpenMP runtime beside it (``yuface.libs``)."""

    def __init__(self, folder: Path):
        library = ctypes.CDLL(str(folder / "libfacedetection.so"))
        self._cnn = getattr(library, SYMBOL)
        self._cnn.restype = ctypes.POINTER(ctypes.c_int)
        self._cnn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int]
        runtimes = sorted((folder.parent / "yuface.libs").glob("libgomp*.so*"))
        # the wheel's own copy of libgomp, already loaded by the library (the same handle)
        self._omp = ctypes.CDLL(str(runtimes[0])) if runtimes else None
        # the network's weights are set up on its first call: that call is made here, once
        # (load() holds its lock), before any thread's
        self.detect(np.zeros((32, 32, 3), np.uint8))

    def detect(self, bgr: np.ndarray) -> np.ndarray:
        """Rows ``(n, 15)`` int16 of score (0-100), ``x, y, w, h`` and the five landmarks' ``x,
        y`` of the faces in a uint8 BGR image ``(h, w, 3)``."""
        bgr = np.ascontiguousarray(bgr, np.uint8)
        if bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError(f"expected a BGR image (h, w, 3); got an array of shape {bgr.shape}")
        rows = np.zeros(RESULT_BYTES // 4, np.int32)
        self._cnn(rows.ctypes.data, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])
        count = min(int(rows[0]), (RESULT_BYTES - 4) // 32)  # 16 int16 per face
        return rows[1:].view(np.int16)[:16 * count].reshape(count, 16)[:, :15].copy()

    def one_thread(self) -> None:
        """Keep the calling thread's searches on that thread (its OpenMP team of one)."""
        if self._omp is not None:
            self._omp.omp_set_num_threads(1)

    def threads(self) -> int:
        """The size of the calling thread's OpenMP team (``omp_get_max_threads``), 0 if the
        runtime was not found."""
        return int(self._omp.omp_get_max_threads()) if self._omp is not None else 0


_LOADED: dict = {}
_LOCK = threading.Lock()


def load() -> YuFaceLibrary | None:
    """The installed ``yuface`` wheel's library (loaded once), or ``None`` where its
    ``libfacedetection.so`` or its entry point is not there."""
    with _LOCK:
        if "library" not in _LOADED:
            try:
                import yuface.yuface as wheel

                _LOADED["library"] = YuFaceLibrary(Path(wheel.__file__).parent)
            except (ImportError, OSError, AttributeError):
                _LOADED["library"] = None
        return _LOADED["library"]
