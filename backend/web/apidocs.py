"""The API docs, /docs (Swagger UI) and /redoc (ReDoc), served from this origin alone.

FastAPI's own pages load both from a CDN, unpinned, onto the origin whose pages
hold users' keys in localStorage, and show nothing offline. These pages load the
copies the Makefile's ``vendor`` target takes from npm (versions pinned in
package.json) and start them from a static script, so no inline script runs;
security.DOCS_CONTENT_SECURITY_POLICY says what else each needs.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from backend.web.security import redoc_content_security_policy

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · Indelible API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  {head}
</head>
<body>
  {body}
</body>
</html>
"""

SWAGGER_HTML = _PAGE.format(
    title="Swagger UI",
    head='<link rel="stylesheet" href="/static/vendor/swagger-ui.css">\n'
    '  <script defer src="/static/vendor/swagger-ui-bundle.js"></script>\n'
    '  <script defer src="/static/js/swagger-init.js"></script>',
    body='<div id="swagger-ui" data-spec-url="/openapi.json"></div>',
)
REDOC_HTML = _PAGE.format(
    title="ReDoc",
    head='<script defer src="/static/vendor/redoc.standalone.js"></script>\n'
    '  <script defer src="/static/js/redoc-init.js"></script>',
    body='<div id="redoc" data-spec-url="/openapi.json" data-style-nonce="{nonce}"></div>',
)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    """Swagger UI on /openapi.json: try the API from the browser."""
    return HTMLResponse(SWAGGER_HTML)


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    """ReDoc on /openapi.json: the API as a reference to read."""
    nonce = secrets.token_urlsafe(18)  # URL-safe base64: nothing to escape in the attribute or the header
    return HTMLResponse(
        REDOC_HTML.replace("{nonce}", nonce),
        headers={"Content-Security-Policy": redoc_content_security_policy(nonce)},
    )
