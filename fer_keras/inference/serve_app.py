"""``fer-keras serve``: a local web app and REST API over :class:`EmotionRecognizer`.

``GET /`` is a page (plain HTML and JS shipped in ``static/``, nothing fetched from elsewhere) to
drop photos or watch a webcam; ``POST /v1/emotions`` takes an image as the multipart field
``image``, as a JSON body ``{"image": "<base64>"}`` or as a raw ``image/*`` body and answers
``{"faces": [...], "width", "height", "seconds"}`` with the face dicts of
:meth:`EmotionRecognizer.detect`; ``GET /health`` names the model; ``/docs`` is FastAPI's OpenAPI
page. Every bad input is a 4xx answer ``{"error": "<what is wrong>"}`` (:mod:`.serve_limits`).

The model is loaded once. Each request is decoded and analysed in a worker thread, off the event
loop; decoding runs in parallel (at most ``decoders`` images at once, which bounds the memory of
decoded pixels), the recognizer one image at a time under a lock, with at most ``queue`` images
waiting for it; past that a request is shed at once: a JSON 503 with ``Retry-After`` (see
``Analyzer``). ``/health`` never waits for the recognizer. A request body that pauses for
``body_timeout`` seconds is a 408 (:class:`.serve_guard.GuardMiddleware`); the deadline for the
headers and the bounds on connections belong to the server (:mod:`.serve_guard`), started by
``fer-keras serve`` (:mod:`fer_keras.commands.serve`), which also says how to run it in
production.

Example:
    >>> app = create_app(EmotionRecognizer("models/shallow_cnn_softmax_X"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path

import cv2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from fer_keras import __version__
from fer_keras.inference.images import EMOTION_COLORS, ImageError
from fer_keras.inference.pretrained import DEFAULT_NAME
from fer_keras.inference.recognizer import EmotionRecognizer
from fer_keras.inference.serve_guard import (
    DEFAULT_BODY_TIMEOUT,
    BodyTimeout,
    Busy,
    GuardMiddleware,
    check_body_timeout,
    notes,
)
from fer_keras.inference.serve_limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUEUE,
    Limits,
    UploadError,
    check_bytes,
    check_part_type,
    decode_base64,
    decode_image,
    read_body,
)

__all__ = ["Analyzer", "create_app", "listen"]

STATIC = Path(__file__).resolve().parent / "static"
ACCEPTED = "multipart/form-data (field 'image'), application/json ({\"image\": base64}), image/*"
REQUEST_BODY = {  # what /docs shows: FastAPI cannot infer it from a handler that parses by hand
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["image"],
            "properties": {"image": {"type": "string", "format": "binary"}}}},
        "application/json": {"schema": {
            "type": "object", "required": ["image"],
            "properties": {"image": {"type": "string", "description": "base64 or a data URL"}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}


class Analyzer:
    """Images → face dicts for every request, with one recognizer shared by all.

    The recognizer runs one image at a time under a lock: OpenCV's cascade classifier is not
    documented as safe to share between threads, and TensorFlow already spreads one model call
    over every core. Classifying the faces of concurrent requests in shared batches was measured
    and is not worth it: with the packaged model (ten-crop TTA) on 2 cores, an image takes about
    150 ms, most of it in the face detector, which runs per image anyway; classifying a face
    takes under 10 ms, and ``detect_many`` on 8 images was only 1.08-1.10x faster than 8
    ``detect`` calls, less than what waiting to fill a batch would add to each request.

    Images in hand (analysed or waiting) are counted on the event loop: past ``1 + queue`` a
    request is shed with :class:`Busy`, its ``Retry-After`` the time the images in hand take.

    Args:
        recognizer: an :class:`EmotionRecognizer` (its ``detect`` and ``class_names`` are used).
        limits: the upload :class:`Limits`.
        decoders: images decoded at once (each may hold up to ``max_pixels`` x 3 bytes).
        queue: images that may wait for the recognizer.
    """

    def __init__(self, recognizer, limits: Limits, decoders: int = 4, queue: int = DEFAULT_QUEUE):
        if isinstance(queue, bool) or not isinstance(queue, int) or queue < 0:
            raise ValueError(f"queue must be an integer >= 0. Received: queue={queue!r}")
        self.recognizer, self.limits = recognizer, limits
        self.lock = threading.Lock()
        self.decoding = threading.BoundedSemaphore(decoders)
        self.capacity, self.images, self.mean_seconds = 1 + queue, 0, 0.2

    def admit(self) -> None:
        """Raise :class:`Busy` if the recognizer is busy and its queue full (on the event loop)."""
        if self.images >= self.capacity:
            raise Busy(f"the server is busy: {self.images} images are being analysed or wait "
                       f"(at most {self.capacity}); retry later", self.images * self.mean_seconds)

    async def answer(self, data: bytes) -> dict:
        """:meth:`analyse` in a worker thread, once :meth:`admit` lets the image in."""
        self.admit()
        self.images += 1
        try:
            return await run_in_threadpool(self.analyse, data)
        finally:
            self.images -= 1

    def analyse(self, data: bytes) -> dict:
        """The answer to one image file (blocking: run it in a worker thread)."""
        with self.decoding:
            start = time.perf_counter()
            image = decode_image(data, self.limits)
            decoded = time.perf_counter() - start
        with self.lock:
            start = time.perf_counter()
            try:
                faces = self.recognizer.detect(image)
            except (ImageError, cv2.error) as e:
                raise UploadError(422, f"the image cannot be analysed: {e}") from None
            seconds = decoded + time.perf_counter() - start
        self.mean_seconds += 0.1 * (seconds - self.mean_seconds)
        return {"faces": faces, "width": int(image.shape[1]), "height": int(image.shape[0]),
                "seconds": round(seconds, 4)}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "a client"


async def _image_bytes(request: Request, limits: Limits) -> bytes:
    """The image file of a request, in any of the three accepted forms."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        body = await read_body(request, limits.max_body)

        async def replay():
            yield body

        try:
            form = await MultiPartParser(request.headers, replay(), max_files=4,
                                         max_fields=16).parse()
        except MultiPartException as e:
            raise UploadError(400, f"malformed multipart body: {e.message}") from None
        try:
            upload = form.get("image")
            if upload is None:
                raise UploadError(400, "no field 'image' in the form: send the photo as the "
                                       "multipart field 'image'")
            if isinstance(upload, str):
                raise UploadError(400, "the field 'image' is text, not a file")
            check_part_type(upload.content_type)
            data = await upload.read()
        finally:
            await form.close()
        check_bytes(data, limits)
        return data
    if kind == "application/json":
        body = await read_body(request, limits.max_body)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UploadError(400, f"the body is not valid JSON: {e}") from None
        if not isinstance(payload, dict) or "image" not in payload:
            raise UploadError(400, "the JSON body needs a field 'image' (the photo in base64)")
        data = decode_base64(payload["image"])
        check_bytes(data, limits)
        return data
    if kind.startswith("image/") or kind == "application/octet-stream":
        data = await read_body(request, limits.max_bytes)
        check_bytes(data, limits)
        return data
    raise UploadError(415, f"unsupported content type {kind or 'none'!r}; send {ACCEPTED}")


def create_app(recognizer=None, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, model_name: str | None = None,
               queue: int = DEFAULT_QUEUE, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> FastAPI:
    """The FastAPI app: the page, the API and its docs, over one recognizer.

    Args:
        recognizer: an :class:`EmotionRecognizer`; ``None`` loads the packaged model.
        max_bytes: largest image file accepted, in bytes.
        max_pixels: largest image accepted (width x height), checked before decoding.
        model_name: what ``/health`` calls the model (default: the packaged model's name, else
            ``"custom"``).
        queue: images that may wait for the recognizer; past it a request gets a 503.
        body_timeout: seconds a request body may pause before a 408.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app())  # doctest: +SKIP
        >>> photo = {"image": open("photo.jpg", "rb")}  # doctest: +SKIP
        >>> client.post("/v1/emotions", files=photo).json()  # doctest: +SKIP
    """
    if model_name is None:
        model_name = DEFAULT_NAME if recognizer is None else "custom"
    analyzer = Analyzer(EmotionRecognizer() if recognizer is None else recognizer,
                        Limits(max_bytes=max_bytes, max_pixels=max_pixels), queue=queue)
    names = tuple(analyzer.recognizer.class_names)  # seven, six merged, eight with contempt
    app = FastAPI(title="fer_keras", version=__version__,
                  description=f"Faces and their emotions in photos ({', '.join(names)}).")
    check_body_timeout(body_timeout)  # here, not when the middleware is built (first request)
    app.add_middleware(GuardMiddleware, body_timeout=body_timeout)
    app.state.analyzer = analyzer
    colors = {n: "#{2:02x}{1:02x}{0:02x}".format(*EMOTION_COLORS[n]) for n in names}

    @app.exception_handler(UploadError)
    async def refused(request, error: UploadError):
        return _error(error.status, str(error))

    @app.exception_handler(Busy)
    async def busy(request, error: Busy):
        notes(logging.WARNING, "busy", f"{_client(request)}: {error}")
        return JSONResponse({"error": str(error)}, status_code=503,
                            headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(BodyTimeout)
    async def stalled(request, error: BodyTimeout):
        notes(logging.WARNING, "body", f"{_client(request)}: {error}; connection closed")
        return JSONResponse({"error": str(error)}, status_code=408,
                            headers={"Connection": "close"})

    @app.exception_handler(ClientDisconnect)
    async def gone(request, error: ClientDisconnect):  # nobody reads the answer: one log line
        notes(logging.INFO, "disconnect", f"{_client(request)} disconnected during its upload to "
              f"{request.method} {request.url.path}; request dropped")
        return Response(status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError):
        return _error(422, "; ".join(e.get("msg", str(e)) for e in error.errors()))

    @app.exception_handler(Exception)
    async def crashed(request, error: Exception):  # a bug, not the client's: uvicorn logs it
        return _error(500, f"internal error ({type(error).__name__}); see the server's log")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/health", summary="The server's state and model")
    async def health():
        return {"status": "ok", "model": model_name, "version": __version__,
                "emotions": colors, "max_bytes": max_bytes, "max_pixels": max_pixels,
                "images": analyzer.images, "capacity": analyzer.capacity}

    @app.post("/v1/emotions", summary="Faces and their emotions in one image",
              openapi_extra={"requestBody": REQUEST_BODY})
    async def emotions(request: Request):
        """Faces of the image: ``box`` ``[x, y, w, h]``, ``emotion``, ``probability``,
        ``emotions`` (each class's probability), ``detection_score`` and ``scores``;
        ``seconds`` is the time spent decoding and analysing this image."""
        analyzer.admit()  # shed before reading the body when full already
        data = await _image_bytes(request, analyzer.limits)
        return await analyzer.answer(data)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (an error naming the address when it is taken)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)  # clients queue from now on, while the app starts
    return sock
