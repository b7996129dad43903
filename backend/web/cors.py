"""Cross-origin access for the node-free reader, on four routes and no others.

The reader (dist/indelible-reader.html) runs from ``file://``, a static host or another node, so its requests
come from another origin. ``/ipfs/*`` answers ``Access-Control-Allow-Origin: *`` as IPFS gateways do (public,
content-addressed bytes), and so does ``GET /api/content/car`` (many of them at once); ``POST /api/content``
and ``POST /api/relay`` answer it too, with their preflight, so the reader can upload a file and relay a signed
action. No credentials are ever allowed (no cookie is read on
those routes), and every other route keeps the browser's same-origin rule.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PREFIXES = ("/ipfs/",)
OPEN_POSTS = ("/api/content", "/api/relay")
OPEN_GETS = ("/api/content/car",)
ALLOW = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"Retry-After")]


def is_open(path: str) -> bool:
    """True for the routes the reader may reach from another origin."""
    return path.startswith(OPEN_PREFIXES) or path in OPEN_POSTS or path in OPEN_GETS


class CrossOrigin:
    """ASGI middleware: CORS headers and preflight answers for ``is_open`` paths only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight at once; add the headers to the open routes' responses."""
        if scope["type"] != "http" or not is_open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            reads = scope["path"].startswith(OPEN_PREFIXES) or scope["path"] in OPEN_GETS
            methods = b"GET, HEAD" if reads else b"POST"
            headers = [
                *ALLOW,
                (b"access-control-allow-methods", methods),
                (b"access-control-allow-headers", b"Content-Type, Accept"),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in ALLOW if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
