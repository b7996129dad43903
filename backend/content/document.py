"""A post's content document: ``{"title": ..., "body": ...}`` as UTF-8 JSON, at most 64 KiB.

A top-level post has a ``title`` (non-empty, at most 300 characters) and a
``body`` (Markdown, may be empty); a reply has only a non-empty ``body``. No
other keys, no duplicate keys. The kind is known from the chain (parent 0 or
not); on upload it is given by ``?reply=`` or inferred from the title's presence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 64 * 1024
MAX_TITLE_CHARS = 300
KEYS = {"title", "body"}
# a lone UTF-16 surrogate (json.loads turns "\\ud800" into one): no UTF-8 encoder or database driver accepts it
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidDocument(ValueError):
    """Bytes that are not a valid content document; the message says why."""


class DocumentTooLarge(InvalidDocument):
    """More than MAX_BYTES bytes."""


@dataclass(frozen=True)
class Document:
    """A valid document; ``title`` is None for a reply."""

    title: str | None
    body: str

    @property
    def is_reply(self) -> bool:
        """A document without a title is a reply's."""
        return self.title is None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise InvalidDocument(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise InvalidDocument(f"invalid JSON: {name} is not allowed")


def parse_document(data: bytes, *, reply: bool | None = None) -> Document:
    """Validate ``data`` as a document; ``reply`` None infers the kind from the title."""
    if len(data) > MAX_BYTES:
        raise DocumentTooLarge(f"content is {len(data)} bytes; the limit is {MAX_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"content is not valid UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidDocument(f"content is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise InvalidDocument("content must be a JSON object")
    extra = sorted(set(value) - KEYS)
    if extra:
        raise InvalidDocument(f"unknown key {extra[0]!r}: only 'title' and 'body' are allowed")
    body = value.get("body")
    if not isinstance(body, str):
        raise InvalidDocument("'body' must be a string")
    for key in sorted(value):
        _check_text(key, value[key])
    if reply is None:
        reply = "title" not in value
    if reply:
        if "title" in value:
            raise InvalidDocument("a reply must not have a title")
        if not body.strip():
            raise InvalidDocument("a reply needs a non-empty body")
        return Document(title=None, body=body)
    title = value.get("title")
    if "title" not in value:
        raise InvalidDocument("a top-level post needs a title")
    if not isinstance(title, str) or not title.strip():
        raise InvalidDocument("'title' must be a non-empty string")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidDocument(f"'title' has {len(title)} characters; the limit is {MAX_TITLE_CHARS}")
    return Document(title=title, body=body)


def _check_text(key: str, text: object) -> None:
    if isinstance(text, str) and (found := _SURROGATE.search(text)):
        raise InvalidDocument(f"{key!r} contains a lone UTF-16 surrogate (U+{ord(found.group()):04X})")


def encode_document(title: str | None, body: str) -> bytes:
    """Canonical bytes of a document (compact JSON, UTF-8), e.g. for tests and seeding."""
    value: dict[str, str] = {"body": body} if title is None else {"title": title, "body": body}
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
