"""Jinja filters: presentation only (times, addresses, Markdown), never new data."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from jinja2 import Environment
from markupsafe import Markup

from backend import markdown

_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))
_LABELS = {
    "rpc_url": "Node (RPC URL)",
    "chain_id": "Chain id",
    "head_block": "Head block",
    "contract_address": "Board contract",
    "deployment_block": "Deployed in block",
}


def reltime(ts: int | None, now: float | None = None) -> str:
    """'3 minutes ago' for a unix time in seconds."""
    if ts is None:
        return "unknown time"
    seconds = int((now if now is not None else time.time()) - ts)
    if seconds < 60:
        return "just now"
    for name, size in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {name}{'s' if count != 1 else ''} ago"
    return "just now"


def isotime(ts: int | None) -> str:
    """ISO 8601 in UTC, for <time datetime>."""
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exacttime(ts: int | None) -> str:
    """The exact time in UTC, for the hover title."""
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_address(address: str | None) -> str:
    """0x1234…abcd."""
    if not address:
        return ""
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def render_markdown(body: str | None, digest: str | None = None) -> Markup:
    """A body rendered and sanitised by backend.markdown (safe to insert), cached by the post's digest."""
    return Markup(markdown.render_cached(digest, body))  # sanitised by nh3, or escaped plain text


def label(key: str) -> str:
    """A status key as a human label: 'index_lag' -> 'Index lag'."""
    return _LABELS.get(key, key.replace("_", " ").capitalize())


def install(env: Environment) -> None:
    """Register every filter on ``env``."""
    env.filters.update(
        reltime=reltime,
        isotime=isotime,
        exacttime=exacttime,
        short_address=short_address,
        markdown=render_markdown,
        label=label,
    )
