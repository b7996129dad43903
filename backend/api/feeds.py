"""Atom feeds: the front page, each author, each author's inbox, each topic and each thread (application/atom+xml).

Built with ElementTree, which escapes every text and attribute, so a post's
title or body can never inject markup into the feed; every text first loses the
characters XML 1.0 forbids (``scrub_text``), which ElementTree would write as they
are, so whatever the index holds the feed is well-formed. Absolute links start at
``INDELIBLE_PUBLIC_URL``, never at the request's Host header (cache poisoning).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from backend.api.deps import AppSettings, DbSession
from backend.api.params import AddressPath, PostId, TopicPath, checksum
from backend.api.schemas import ApiRoute
from backend.content.document import scrub_text
from backend.db.inbox import replies_to
from backend.db.queries import recent_posts, recent_topic_posts, thread_rows

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
FEED_SIZE = 50
_ERROR_JSON = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Atom on success; errors stay ``{"detail": ...}`` JSON (listed explicitly, not as the route's type)."""
    errors: dict[int | str, dict[str, Any]] = {
        code: {"description": "Error", "content": {"application/json": {"schema": _ERROR_JSON}}} for code in codes
    }
    return {200: {"content": {ATOM_TYPE: {"schema": {"type": "string"}}}, "description": "An Atom 1.0 feed"}, **errors}


router = APIRouter(prefix="/feeds", tags=["feeds"], route_class=ApiRoute)


class AtomResponse(Response):
    """An Atom document."""

    media_type = ATOM_TYPE


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {name: scrub_text(value) for name, value in attrs.items()})
    if text is not None:
        element.text = scrub_text(text)
    return element


def _entry_title(row: Any) -> str:
    if row["title"]:
        return str(row["title"])
    if row["parent_id"] is not None:
        return f"Reply to post {row['parent_id']} by {row['author']}"
    if row["content_status"] == "invalid":
        return f"Post {row['id']} (invalid content: {row['content_error'] or 'not a valid document'})"
    return f"Post {row['id']} (content {row['content_status']})"


def build_atom(base: str, title: str, self_path: str, html_path: str, rows: Iterable[Any]) -> bytes:
    """An Atom feed of ``rows`` (post rows), newest first, with absolute links under ``base``."""
    ET.register_namespace("", ATOM_NS)
    rows = list(rows)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _add(feed, "id", base + self_path)
    _add(feed, "title", title)
    _add(feed, "updated", _iso(max((r["created_at"] for r in rows), default=0)))
    _add(feed, "link", rel="self", href=base + self_path, type=ATOM_TYPE)
    _add(feed, "link", rel="alternate", href=base + html_path, type="text/html")
    _add(feed, "generator", "Indelible")
    for row in rows:
        entry = _add(feed, "entry")
        _add(entry, "id", f"{base}/api/posts/{row['id']}")
        _add(entry, "title", _entry_title(row))
        _add(entry, "updated", _iso(row["created_at"]))
        _add(entry, "published", _iso(row["created_at"]))
        _add(_add(entry, "author"), "name", str(row["author"]))
        _add(entry, "link", rel="alternate", href=f"{base}/posts/{row['id']}", type="text/html")
        _add(entry, "link", rel="alternate", href=f"{base}/api/posts/{row['id']}", type="application/json")
        summary = f"score {row['score']} (+{row['upvotes']} / -{row['downvotes']}), {row['reply_count']} replies"
        _add(entry, "summary", summary)
        if row["body"] is not None:
            _add(entry, "content", str(row["body"]), type="text")
        elif row["content_status"] == "invalid":
            _add(entry, "content", f"invalid content: {row['content_error'] or 'not a valid document'}", type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


@router.get("/posts.atom", response_class=AtomResponse, responses=_responses(422))
def front_feed(settings: AppSettings, session: DbSession) -> AtomResponse:
    """The newest top-level posts."""
    rows = recent_posts(session, FEED_SIZE)
    return AtomResponse(build_atom(settings.public_url, "Indelible: new posts", "/feeds/posts.atom", "/", rows))


@router.get("/authors/{address}.atom", response_class=AtomResponse, responses=_responses(422))
def author_feed(settings: AppSettings, session: DbSession, address: AddressPath) -> AtomResponse:
    """An author's newest posts and replies."""
    author = checksum(address)
    rows = recent_posts(session, FEED_SIZE, author=author)
    path = f"/feeds/authors/{author}.atom"
    return AtomResponse(build_atom(settings.public_url, f"Indelible: {author}", path, f"/authors/{author}", rows))


@router.get("/authors/{address}/replies.atom", response_class=AtomResponse, responses=_responses(422))
def inbox_feed(settings: AppSettings, session: DbSession, address: AddressPath) -> AtomResponse:
    """The newest replies others made to an author's posts: their inbox, for any feed reader."""
    author = checksum(address)
    rows = replies_to(session, author, FEED_SIZE)
    path = f"/feeds/authors/{author}/replies.atom"
    title = f"Indelible: replies to {author}"
    return AtomResponse(build_atom(settings.public_url, title, path, f"/inbox?address={author}", rows))


@router.get("/topics/{topic}.atom", response_class=AtomResponse, responses=_responses(422))
def topic_feed(settings: AppSettings, session: DbSession, topic: TopicPath) -> AtomResponse:
    """The newest top-level posts of a topic."""
    rows = recent_topic_posts(session, topic, FEED_SIZE)
    path = f"/feeds/topics/{topic}.atom"
    return AtomResponse(build_atom(settings.public_url, f"Indelible: {topic}", path, f"/t/{topic}", rows))


@router.get("/posts/{post_id}.atom", response_class=AtomResponse, responses=_responses(404, 422))
def thread_feed(settings: AppSettings, session: DbSession, post_id: PostId) -> AtomResponse:
    """A post and its newest replies."""
    found = thread_rows(session, post_id, FEED_SIZE - 1)
    if found is None:
        raise HTTPException(status_code=404, detail="Post not found")
    top, replies = found
    title = f"Indelible: {_entry_title(top)}"
    path = f"/feeds/posts/{post_id}.atom"
    return AtomResponse(build_atom(settings.public_url, title, path, f"/posts/{post_id}", [*replies, top]))
