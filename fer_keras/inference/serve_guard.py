"""Hostile clients of ``fer-keras serve``: deadlines, bounded connections, one log line each.

uvicorn has no deadline for a request's headers or body, and its ``limit_concurrency`` counts
every open connection: 70 clients that sent their headers and then stalled took all 64 slots it
was given, and ``/health`` itself got a plain-text 503 for as long as they stayed. Instead:

- ``GuardedH11Protocol``, uvicorn's h11 protocol with a deadline for the request headers
  (``header_timeout``, from the opening of the connection, or from the first byte of a later
  request on a kept-alive one) and at most
  ``max_per_client`` connections per client address and ``max_connections`` in all. A new
  connection over a bound is never refused: it closes the connection, of that client or of any,
  that has waited longest for its client; a connection whose request is being answered is never
  closed (those are bounded by the load shedding of ``serve_app.Analyzer``).
  ``/health`` always gets through: it takes a connection only for the moment of its answer.
- ``GuardMiddleware``, a small ASGI middleware: a request body that stops arriving for
  ``body_timeout`` seconds ends in a JSON 408 and the connection is closed.
- ``notes``: each of these events is one log line (at most one a second of each kind, with the
  number held back), and so is a client that disconnects during its upload.

``GuardedConfig`` is ``uvicorn.Config`` with a :class:`Guard`; it pickles, so ``--workers N``
(uvicorn's own worker processes) gives every worker the same bounds.

Example:
    >>> config = GuardedConfig(app, guard=Guard(header_timeout=5))  # doctest: +SKIP
    >>> uvicorn.Server(config).run()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass

import anyio
import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_BODY_TIMEOUT", "BodyTimeout", "Busy", "Guard", "GuardedConfig",
           "GuardedH11Protocol", "GuardMiddleware", "check_body_timeout", "notes"]

logger = logging.getLogger("uvicorn.error")
#: Seconds a request body may pause between two of its parts (:class:`GuardMiddleware`).
DEFAULT_BODY_TIMEOUT = 20.0


@dataclass(frozen=True)
class Guard:
    """How long a client may take over its headers and how many connections it may hold.

    The bounds are per worker process (the body's deadline is the app's: :class:`GuardMiddleware`).

    Args:
        header_timeout: seconds for a request's headers to arrive whole.
        max_connections: open connections in all.
        max_per_client: open connections from one client address.
    """

    header_timeout: float = 10.0
    max_connections: int = 512
    max_per_client: int = 64

    def __post_init__(self):
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
        if self.max_per_client > self.max_connections:
            raise ValueError("max_per_client must be at most max_connections. Received: "
                             f"{self.max_per_client} > {self.max_connections}")


class Busy(Exception):
    """Every inference slot is taken and the queue is full: a 503 with ``Retry-After``."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class Notes:
    """One log line per event, at most one a second of each kind (the rest counted in the next)."""

    def __init__(self, every: float = 1.0):
        self.every, self.last, self.held = every, {}, {}

    def __call__(self, level: int, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -math.inf) < self.every:
            self.held[kind] = self.held.get(kind, 0) + 1
            return
        self.last[kind] = now
        held = self.held.pop(kind, 0)
        logger.log(level, "%s%s", message, f" (and {held} more since the last such line)"
                   if held else "")


notes = Notes()


def _address(client) -> str:
    return "%s:%d" % tuple(client[:2]) if client else "unknown client"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the headers and bounded connections.

    Its :class:`Guard` is the ``guard`` of uvicorn's config (:class:`GuardedConfig`), else the
    defaults: ``uvicorn --http fer_keras.inference.serve_guard:GuardedH11Protocol`` works too.
    """

    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        self.guard = getattr(config, "guard", None) or Guard()
        self.last_active = time.monotonic()
        self.header_timer = None
        self.partial = False  # part of a request's headers arrived, not all of it

    @property
    def busy(self) -> bool:
        """A whole request is in hand and its answer not sent yet: never closed to make room."""
        return (self.conn.their_state is h11.DONE
                and self.conn.our_state in (h11.SEND_RESPONSE, h11.SEND_BODY))

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.host = self.client[0] if self.client else ""
        self._arm()
        self._make_room()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        super().data_received(data)
        # waiting for (the rest of) a request's headers: uvicorn's keep-alive timer stopped at
        # the first byte, so the headers' own deadline starts now, unless it runs already
        self.partial = self.conn.their_state is h11.IDLE
        if self.partial:
            self._arm()
        else:
            self._disarm()

    def _arm(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.guard.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _expired(self) -> None:
        self.header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.partial:  # a request began: say why it ends (an idle connection just closes)
            body = json.dumps({"error": "the request headers did not arrive within "
                                        f"{self.guard.header_timeout:g} s"},
                              separators=(",", ":")).encode()  # as Starlette writes JSON
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: "
                                 b"application/json\r\nconnection: close\r\ncontent-length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)
            notes(logging.WARNING, "headers", f"{_address(self.client)}: its request headers "
                  f"did not arrive within {self.guard.header_timeout:g} s; connection closed")
        self.transport.close()

    def _make_room(self) -> None:
        """Close the connection that has waited longest for its client, if a bound is reached."""
        others = [c for c in self.connections
                  if c is not self and not c.transport.is_closing()]
        mine = [c for c in others if getattr(c, "host", None) == self.host]
        if len(mine) >= self.guard.max_per_client:
            pool, bound = mine, f"{self.guard.max_per_client} connections from {self.host}"
        elif len(others) >= self.guard.max_connections:
            pool, bound = others, f"{self.guard.max_connections} connections"
        else:
            return
        idle = [c for c in pool if isinstance(c, GuardedH11Protocol) and not c.busy]
        if not idle:  # every one is being answered, which the load shedding keeps short
            return
        oldest = min(idle, key=lambda c: c.last_active)
        oldest.transport.close()
        notes(logging.WARNING, "room", f"closed the connection of {_address(oldest.client)} "
              f"(silent for {time.monotonic() - oldest.last_active:.1f} s) to make room for "
              f"{_address(self.client)}: {bound} at most")


class GuardMiddleware:
    """ASGI middleware: a request body that pauses for ``body_timeout`` s is a JSON 408.

    The 408 also closes the connection. The wait is on each part of the body, so a slow but
    steady upload goes through; a client that only trickles holds one of its
    ``max_per_client`` connections, the first to close when it needs room.
    """

    def __init__(self, app, body_timeout: float = DEFAULT_BODY_TIMEOUT):
        check_body_timeout(body_timeout)
        self.app, self.body_timeout = app, body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        whole = False

        async def timed_receive():
            nonlocal whole
            if whole:  # after the body: a wait for the disconnect, never timed
                return await receive()
            try:
                with anyio.fail_after(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.body_timeout) from None
            whole = message["type"] != "http.request" or not message.get("more_body")
            return message

        return await self.app(scope, timed_receive, send)


def check_body_timeout(seconds: float) -> None:
    """Refuse a body timeout that is not a positive number of seconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"body_timeout must be a positive number. Received: "
                         f"body_timeout={seconds!r}")


class BodyTimeout(Exception):
    """The request body stopped arriving (answered 408, closing the connection)."""

    def __init__(self, seconds: float):
        super().__init__(f"the request body stopped arriving: nothing for {seconds:g} s")


class GuardedConfig(uvicorn.Config):
    """``uvicorn.Config`` serving through :class:`GuardedH11Protocol` with ``guard``.

    uvicorn's ``limit_concurrency`` stays off: it counts stalled connections too.
    """

    def __init__(self, app, guard: Guard | None = None, **kwargs):
        kwargs.setdefault("http", GuardedH11Protocol)
        super().__init__(app, **kwargs)
        self.guard = guard or Guard()
