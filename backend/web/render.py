"""The Jinja2 environment of the pages: autoescape on, our filters installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from backend.web import filters

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
# Jinja2Templates autoescapes .html already; say so rather than rely on it
templates.env.autoescape = True
filters.install(templates.env)


def page(request: Request, template: str, json_url: str | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context``; every page names its JSON twin."""
    return templates.TemplateResponse(request, template, {"json_url": json_url, **context}, status_code=status_code)
