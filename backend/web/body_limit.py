"""Request bodies capped per route: 413 for a declared Content-Length over the cap, and for a body streamed past it.

A route reads at most its cap (plus one network chunk) before it is refused, so
no request can make the server buffer more than that, whether it declares its
length or sends chunks. Routes keep their own finer limits inside (a content
document's 64 KiB and its message, the relay's own cap).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.content.document import MAX_BYTES

# /api/content: the document limit plus room for the route to name the exact size in its own 413;
# /api/relay: a batch at the schema's caps (50 signed posts, 100 signed votes) fits with room to spare
ROUTE_CAPS = {"/api/content": MAX_BYTES + 16 * 1024, "/api/relay": 256 * 1024}
DEFAULT_CAP = 16 * 1024  # every other route: none takes a body today


class BodyTooLarge(HTTPException):
    """A request body over its route's cap."""

    def __init__(self, cap: int, size: int | None = None) -> None:
        said = f"request body is {size} bytes" if size is not None else "request body is over the limit"
        super().__init__(status_code=413, detail=f"{said}; the limit for this route is {cap} bytes")


def cap_for(path: str) -> int:
    """The byte cap of a request body on ``path``."""
    return ROUTE_CAPS.get(path.rstrip("/") or "/", DEFAULT_CAP)


class BodyLimit:
    """ASGI middleware: refuse bodies over their route's cap before the route buffers them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = cap_for(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > cap:
            await _refuse(send, BodyTooLarge(cap, declared))
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)  # the app's handler turns it into the 413 (it is an HTTPException)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # raised where no handler caught it (outside a route)
            if started:
                raise
            await _refuse(send, exc)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, exc: BodyTooLarge) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
