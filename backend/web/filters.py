"""Jinja filters: presentation only (times, addresses, Markdown), never new data."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from backend import markdown
from backend.views.listings import DEFAULT_DEPTH

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


# unix times of 1000-01-01 and 10000-01-01 UTC: between them strftime's %Y is four digits, as "{:04d}" writes it
_YEAR_1000, _YEAR_10000 = -30610224000, 253402300800


def _utc_fields(ts: int) -> tuple[int, ...] | None:
    """Year, month, day, hour, minute, second of an int unix time in a four-digit year (every post row shows two
    times: time.gmtime costs a third of datetime's strftime); None for anything else, which datetime formats."""
    if type(ts) is int and _YEAR_1000 <= ts < _YEAR_10000:
        return tuple(time.gmtime(ts)[:6])
    return None


def isotime(ts: int | None) -> str:
    """ISO 8601 in UTC, for <time datetime>."""
    if ts is None:
        return ""
    fields = _utc_fields(ts)
    if fields is None:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*fields)


def exacttime(ts: int | None) -> str:
    """The exact time in UTC, for the hover title."""
    if ts is None:
        return ""
    fields = _utc_fields(ts)
    if fields is None:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d} UTC".format(*fields)


def short_address(address: str | None) -> str:
    """0x1234…abcd."""
    if not address:
        return ""
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def render_markdown(body: str | None, digest: str | None = None) -> Markup:
    """A body rendered and sanitised by backend.markdown (safe to insert), cached by the post's digest."""
    return Markup(markdown.render_cached(digest, body))  # sanitised by nh3, or escaped plain text


# a reply at most this deep is loaded with its thread's root page
THREAD_DEPTH = DEFAULT_DEPTH


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def lens_score(post: Mapping[str, Any], lens_name: str = "default") -> int:
    """The one score a post shows: its lens's (every vote under ``all``, the counted tallies otherwise)."""
    return int(post["score"] if lens_name == "all" else post.get("counted_score", post["score"]))


def tally_words(post: Mapping[str, Any], lens_name: str = "default") -> str:
    """The raw and counted tallies and what the lens did, in words: '12 up, 30 down; your lens counts ...'."""
    up, down = int(post["upvotes"]), int(post["downvotes"])
    raw = f"{up} up, {down} down"
    if lens_name == "all" or "counted_upvotes" not in post:
        return f"{raw}; your lens ({lens_name}) counts every vote"
    c_up, c_down = int(post["counted_upvotes"]), int(post["counted_downvotes"])
    left_out = max(up + down - c_up - c_down, 0)
    counted = f"{raw}; your lens ({lens_name}) counts {c_up} up, {c_down} down"
    if lens_name == "trusted":
        return f"{counted}: only your trusted voters' votes"
    if left_out == 0:
        return f"{raw}; your lens ({lens_name}) counts them all"
    were = "voter was" if left_out == 1 else "voters were"
    return f"{counted}: {left_out} {were} new to the board"


def branch_size(post: Mapping[str, Any]) -> int:
    """Replies known under ``post`` in a thread document: the nested ones and those left for another page."""
    more = post.get("more_replies")
    return sum(1 + branch_size(reply) for reply in post.get("replies") or ()) + (int(more["count"]) if more else 0)


def permalink(post: Mapping[str, Any]) -> str:
    """A post's link: a reply opens its thread at the reply (highlighted), when the root's page holds it."""
    root, depth = post.get("root_id"), post.get("depth")
    if post.get("parent_id") is None or root is None or depth is None or int(depth) > THREAD_DEPTH:
        return f"/posts/{post['id']}"
    return f"/posts/{root}#post-{post['id']}"


def datetime_utc(ts: float | None) -> str:
    """A unix time as a date and time in UTC: '2026-12-06 10:12 UTC'."""
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def seconds_ago(ts: float | None, now: float | None = None) -> str:
    """How long ago, short: '2 s ago', '5 min ago', '3 h ago'."""
    if ts is None:
        return "never"
    seconds = max(int((now if now is not None else time.time()) - ts), 0)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return reltime(int(ts), now)


def plural(count: int, one: str, many: str) -> str:
    """'1 reply', '3 replies'."""
    return _plural(int(count), one, many)


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
        lens_score=lens_score,
        tally_words=tally_words,
        branch_size=branch_size,
        permalink=permalink,
        datetime_utc=datetime_utc,
        seconds_ago=seconds_ago,
        plural=plural,
    )
