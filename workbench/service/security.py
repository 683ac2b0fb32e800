"""Who may write, and how much a request may carry.

- Write endpoints (every ``POST``) need ``Authorization: Bearer TOKEN`` with the
  token from ``WORKBENCH_TOKEN`` or ``[service] token``, compared in constant
  time (:func:`hmac.compare_digest`). With no token configured they answer 403
  and say how to configure one. Reads (``GET``) are open: run the service on
  loopback, or behind a proxy that authenticates, when the lists are private.
- A body larger than ``max_body_bytes`` is refused with 413 before it is read
  in full, whether or not it announces its length.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

__all__ = ["BodyLimit", "check_token", "token_problem"]


def token_problem(configured: str | None, authorization: str | None) -> tuple[int, str] | None:
    """Why a write request may not proceed, as ``(status, message)``; None when it may.

    >>> token_problem("s3cret", "Bearer s3cret") is None
    True
    >>> token_problem("s3cret", "Bearer nope")[0]
    401
    >>> token_problem(None, "Bearer anything")[0]
    403
    """
    if not configured:
        return 403, (
            "Writes are disabled: the service has no token configured. Set WORKBENCH_TOKEN "
            '(or token = "..." under [service] in workbench.toml), restart `workbench serve`, '
            "and send it as 'Authorization: Bearer TOKEN'."
        )
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return 401, "This endpoint writes to the store: send 'Authorization: Bearer TOKEN'."
    if not check_token(configured, given.strip()):
        return 401, "The bearer token is not the one configured for this service."
    return None


def check_token(configured: str, given: str) -> bool:
    """Whether ``given`` is the configured token, compared in constant time."""
    return hmac.compare_digest(configured.encode("utf-8"), given.encode("utf-8"))


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is refused at once. A body sent
    without one (chunked) is read here, counting, and refused as soon as it
    passes the limit; the application then gets the body as read. Either way no
    request holds more than ``max_bytes`` in memory.
    """

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(send, int(declared))
                return
            await self.app(scope, receive, send)
            return
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; nothing to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._refuse(send, received, at_least=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send, size: int, *, at_least: bool = False) -> None:
        body = json.dumps(
            {
                "error": (
                    f"The request body is {'more than ' if at_least else ''}{size:,} bytes; "
                    f"this service accepts at most {self.max_bytes:,} ([service] "
                    "max_body_bytes). Send the events in smaller batches."
                ),
                "detail": None,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
