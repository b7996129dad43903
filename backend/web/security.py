"""Security headers: a strict Content-Security-Policy on every response, a slightly wider one on the API docs.

Scripts come only from this origin (no inline script, no eval), so even a
sanitiser bug in a post body could not run code. The browser talks only to
this origin: a wallet extension reaches its chain from outside the page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in _DIRECTIVES.items())
# The vendored Swagger UI and ReDoc (backend.web.apidocs) still run only this origin's scripts, without
# eval; what they need beyond the site's policy, and why:
_DOCS_DIRECTIVES = _DIRECTIVES | {
    # both draw icons as data: SVG in their CSS and markup
    "img-src": "'self' data:",
}
DOCS_CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in _DOCS_DIRECTIVES.items())


# Two <style> elements the ReDoc bundle inserts as it loads, before it is given the nonce: styled-components'
# empty sheet, and the bundle's own CSS. Hashes of exactly these texts (redoc 2.5.4; tests/browser/test_api_docs.py
# fails on any CSP violation, so a new version with other styles shows up there).
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)


def redoc_content_security_policy(style_nonce: str) -> str:
    """The docs policy for one ReDoc page, given the nonce its styled-components put on their <style> elements."""
    directives = _DOCS_DIRECTIVES | {
        "style-src": " ".join(["'self'", f"'nonce-{style_nonce}'", *REDOC_STYLE_HASHES]),
        # the search index runs in a worker that ReDoc's own bundle builds from a blob: no DOM, no storage
        "worker-src": "blob:",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


DOCS_PATHS = ("/docs", "/redoc")
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *_COMMON]
DOCS_HEADERS = [(b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()), *_COMMON]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme in ("http", "https") else ""


def site_content_security_policy(rpc_url: str = "") -> str:
    """The site's policy; connect-src also lets the reader's browser check pages against a chain node.

    The announced RPC's origin, any https node and one on the reader's own machine: the reader may set
    their own RPC URL (backend/static/js/verify.js). Scripts stay this origin's only.
    """
    origin = _origin(rpc_url)
    sources = ["'self'", *([origin] if origin else []), "https:", "http://127.0.0.1:*", "http://localhost:*"]
    return "; ".join(f"{name} {value}" for name, value in (_DIRECTIVES | {"connect-src": " ".join(sources)}).items())


class SecurityHeaders:
    """ASGI middleware adding HEADERS (DOCS_HEADERS on the docs pages) to each HTTP response not setting them."""

    def __init__(self, app: ASGIApp, rpc_url: str = "") -> None:
        self.app = app
        self.headers = [(b"content-security-policy", site_content_security_policy(rpc_url).encode()), *_COMMON]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = DOCS_HEADERS if scope.get("path") in DOCS_PATHS else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in headers if name not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
