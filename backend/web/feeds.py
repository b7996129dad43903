"""Atom feeds: the front page, each author, each author's inbox, each topic and each thread (application/atom+xml).

Built with ElementTree, which escapes every text and attribute, so a post's
title or body can never inject markup into the feed; every text first loses the
characters XML 1.0 forbids (``scrub_text``), which ElementTree would write as they
are, so whatever the index holds the feed is well-formed. Absolute links start at
``INDELIBLE_PUBLIC_URL``, never at the request's Host header (cache poisoning).

Each feed renders a view (``backend.views.answers``), the one its page and JSON twin render, sorted new.
Every feed takes the reader's ``lens``, ``fold``, ``trust`` and ``mute`` like the API (docs/ranking.md), so a
reader can subscribe with their lens: a feed never leaves a post out; a folded entry's title starts with
"[folded: muted by you]" or "[folded by votes (your lens: NAME)]" and it carries ``<category term="folded">``.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from backend.content.document import scrub_text
from backend.http.deps import AppSettings, DbSession, FeedLens
from backend.http.errors import ApiRoute
from backend.http.params import AddressPath, PostId, TopicPath, checksum
from backend.views.answers import author_view, feed_view, inbox_view, thread_posts, thread_view, topic_view
from backend.views.lens import LENS_PARAMS, ReaderLens
from backend.views.listings import MAX_DEPTH

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


def _folded_why(row: Any, lens: ReaderLens | None) -> str | None:
    """Why a post folds for this reader ("muted by you" or "folded by votes (your lens: NAME)"); None if it does not."""
    if lens is None or not row.get("collapsed"):
        return None
    return "muted by you" if row.get("muted") else f"folded by votes (your lens: {lens.name})"


def build_atom(
    base: str,
    title: str,
    self_path: str,
    html_path: str,
    rows: Iterable[Any],
    lens: ReaderLens | None = None,
    query: str = "",
) -> bytes:
    """An Atom feed of ``rows`` (post rows), newest first, with absolute links under ``base``.

    With ``lens`` (rows already passed through ``apply_reader``), folded entries say so in their title and a
    ``folded`` category; ``query`` (the reader's lens parameters, encoded) follows the self and page links.
    """
    ET.register_namespace("", ATOM_NS)
    rows = list(rows)
    asked = f"?{query}" if query else ""
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _add(feed, "id", base + self_path + asked)  # another lens is another feed
    _add(feed, "title", title)
    _add(feed, "updated", _iso(max((r["created_at"] for r in rows), default=0)))
    _add(feed, "link", rel="self", href=base + self_path + asked, type=ATOM_TYPE)
    html_query = ("&" if "?" in html_path else "?") + query if query else ""
    _add(feed, "link", rel="alternate", href=base + html_path + html_query, type="text/html")
    _add(feed, "generator", "Indelible")
    for row in rows:
        entry = _add(feed, "entry")
        why = _folded_why(row, lens)
        _add(entry, "id", f"{base}/api/posts/{row['id']}")
        mark = f"[folded: {why}] " if row.get("muted") else f"[{why}] " if why else ""
        _add(entry, "title", mark + _entry_title(row))
        if why:
            _add(entry, "category", term="folded", label=why)
        _add(entry, "updated", _iso(row["created_at"]))
        _add(entry, "published", _iso(row["created_at"]))
        _add(_add(entry, "author"), "name", str(row["author"]))
        _add(entry, "link", rel="alternate", href=f"{base}/posts/{row['id']}{asked}", type="text/html")
        _add(entry, "link", rel="alternate", href=f"{base}/api/posts/{row['id']}{asked}", type="application/json")
        tally = f"+{row['upvotes']} / -{row['downvotes']}"
        if lens is not None and lens.counted:  # the raw tally stays; the lens's counted one joins it
            tally += f"; {row['counted_upvotes']} up / {row['counted_downvotes']} down counted"
        summary = f"score {row['score']} ({tally}), {row['reply_count']} replies"
        _add(entry, "summary", summary)
        if row["body"] is not None:
            _add(entry, "content", str(row["body"]), type="text")
        elif row["content_status"] == "invalid":
            _add(entry, "content", f"invalid content: {row['content_error'] or 'not a valid document'}", type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _asked(request: Request) -> str:
    """The reader's lens parameters as asked, encoded for the feed's own links; empty when none."""
    return urlencode({name: value for name in LENS_PARAMS if (value := request.query_params.get(name)) is not None})


@router.get("/posts.atom", response_class=AtomResponse, responses=_responses(422))
def front_feed(request: Request, settings: AppSettings, session: DbSession, lens: FeedLens) -> AtomResponse:
    """The newest top-level posts, folded for the reader's lens (never left out)."""
    rows = feed_view(session, lens, "new", FEED_SIZE)["posts"]
    body = build_atom(
        settings.public_url, "Indelible: new posts", "/feeds/posts.atom", "/", rows, lens, _asked(request)
    )
    return AtomResponse(body)


@router.get("/authors/{address}.atom", response_class=AtomResponse, responses=_responses(422))
def author_feed(
    request: Request, settings: AppSettings, session: DbSession, address: AddressPath, lens: FeedLens
) -> AtomResponse:
    """An author's newest posts and replies (as the author's page: never folded by votes; muted ones fold)."""
    author = checksum(address)
    rows = author_view(session, lens, author, FEED_SIZE)["posts"]
    path = f"/feeds/authors/{author}.atom"
    title = f"Indelible: {author}"
    return AtomResponse(build_atom(settings.public_url, title, path, f"/authors/{author}", rows, lens, _asked(request)))


@router.get("/authors/{address}/replies.atom", response_class=AtomResponse, responses=_responses(422))
def inbox_feed(
    request: Request, settings: AppSettings, session: DbSession, address: AddressPath, lens: FeedLens
) -> AtomResponse:
    """The newest replies others made to an author's posts: their inbox, for any feed reader."""
    author = checksum(address)
    rows = inbox_view(session, lens, author, FEED_SIZE)["replies"]
    path = f"/feeds/authors/{author}/replies.atom"
    title = f"Indelible: replies to {author}"
    html = f"/inbox?address={author}"
    return AtomResponse(build_atom(settings.public_url, title, path, html, rows, lens, _asked(request)))


@router.get("/topics/{topic}.atom", response_class=AtomResponse, responses=_responses(422))
def topic_feed(
    request: Request, settings: AppSettings, session: DbSession, topic: TopicPath, lens: FeedLens
) -> AtomResponse:
    """The newest top-level posts of a topic."""
    rows = topic_view(session, lens, topic, "new", FEED_SIZE)["posts"]
    path = f"/feeds/topics/{topic}.atom"
    title = f"Indelible: {topic}"
    return AtomResponse(build_atom(settings.public_url, title, path, f"/t/{topic}", rows, lens, _asked(request)))


@router.get("/posts/{post_id}.atom", response_class=AtomResponse, responses=_responses(404, 422))
def thread_feed(
    request: Request, settings: AppSettings, session: DbSession, post_id: PostId, lens: FeedLens
) -> AtomResponse:
    """A post and the newest of the replies its page shows (every level the API loads)."""
    thread = thread_view(session, lens, post_id, MAX_DEPTH)
    if thread is None:
        raise HTTPException(status_code=404, detail="Post not found")
    top, *replies = thread_posts(thread)
    newest = sorted(replies, key=lambda reply: reply["id"], reverse=True)[: FEED_SIZE - 1]
    title = f"Indelible: {_entry_title(top)}"
    path = f"/feeds/posts/{post_id}.atom"
    rows = [*newest, top]
    return AtomResponse(build_atom(settings.public_url, title, path, f"/posts/{post_id}", rows, lens, _asked(request)))
