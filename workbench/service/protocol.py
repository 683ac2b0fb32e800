"""The HTTP connection handling: a request must arrive whole within a deadline.

uvicorn's h11 protocol times out idle keep-alive connections, but not a client that
sends its headers or body a byte at a time: such connections stay open for as long
as the client likes, and a few hundred of them hold every file descriptor. Here each
request must arrive whole (headers and body) within ``read_timeout_seconds`` of its
first byte (of the connection, for the first request); otherwise the client gets a
``408`` and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ServiceConfig", "TimedH11Protocol"]


class ServiceConfig(uvicorn.Config):
    """uvicorn's settings with the service's request deadline (``read_timeout_seconds``),
    which :class:`TimedH11Protocol` reads. A plain class, so several workers (each a
    process of its own, handed a copy) get it too."""

    def __init__(self, app, *, read_timeout_seconds: float, **options) -> None:
        super().__init__(app, http=TimedH11Protocol, **options)
        self.read_timeout_seconds = read_timeout_seconds


class TimedH11Protocol(H11Protocol):
    """An h11 protocol that closes a connection whose request is late (see the module)."""

    _deadline: asyncio.TimerHandle | None = None

    @property
    def read_timeout(self) -> float:
        return self.config.read_timeout_seconds

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not None and not self.cycle.more_body:
            self._disarm()  # the whole request is in; the app takes its time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            # Nothing of this request reached the app: answer 408 in the service's shape.
            body = json.dumps(
                {
                    "error": f"The request did not arrive whole within {self.read_timeout:g} s; "
                    "the connection is closed.",
                    "detail": None,
                }
            ).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
        # A body still trickling: closing tells the app the client is gone.
        self.transport.close()
