"""A post's content document: ``{"title": ..., "body": ..., "topic": ...}`` as UTF-8 JSON, at most 64 KiB.

A top-level post has a ``title`` (non-empty, at most 300 characters) and a
``body`` (Markdown, may be empty) and may have a ``topic`` (a lowercase slug: a-z, 0-9 and
single hyphens inside, at most 32 characters); a reply has only a non-empty ``body`` (it belongs to its
thread's topic). No
other keys, no duplicate keys, no nested values, no lone surrogates, no control
characters but tab, newline and carriage return, no noncharacters: the full
rule, and why, is docs/content.md. The kind is known from the chain (parent 0 or
not); on upload it is given by ``?reply=`` or inferred from the title's presence.

``parse_document`` raises ``InvalidDocument`` (with the reason) for every byte
string that breaks the rule, and nothing else, whatever the bytes.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024
MAX_TITLE_CHARS = 300
KEYS = {"title", "body", "topic"}
MAX_TOPIC_CHARS = 32
TOPIC_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_TOPIC = re.compile(TOPIC_PATTERN)
_BOM = b"\xef\xbb\xbf"
# Characters a document's strings may not hold, after unescaping: lone UTF-16 surrogates (no UTF-8 encoder
# or database driver takes them), C0 controls but tab/LF/CR (NUL breaks PostgreSQL text; XML 1.0 forbids
# the rest), DEL and C1 controls (invisible, no use in a post), and the 66 Unicode noncharacters (U+FFFE and
# U+FFFF are illegal in XML 1.0; the others are never text). What is left is safe in XML, JSON and both DBs.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# apart: a class of astral characters is ten times slower to search, and few posts hold any
_ASTRAL_NONCHARACTER = re.compile("[" + "".join(f"\\U{p:04x}fffe\\U{p:04x}ffff" for p in range(1, 17)) + "]")
# JSON's structural characters and the backslash: the nesting pre-scan looks only at these
_STRUCTURE = re.compile(r'[\\"\[\]{}]')
_NUMBER = object()  # what a JSON number parses to: no conversion, so no digit-limit or overflow errors


class InvalidDocument(ValueError):
    """Bytes that are not a valid content document; the message says why."""


class DocumentTooLarge(InvalidDocument):
    """More than MAX_BYTES bytes."""


@dataclass(frozen=True)
class Document:
    """A valid document; ``title`` is None for a reply."""

    title: str | None
    body: str
    topic: str | None = None

    @property
    def is_reply(self) -> bool:
        """A document without a title is a reply's."""
        return self.title is None


def parse_document(data: bytes, *, reply: bool | None = None) -> Document:
    """Validate ``data`` as a document; ``reply`` None infers the kind from the title."""
    try:
        return _parse(data, reply)
    except InvalidDocument:
        raise
    except Exception as exc:  # a case the rule missed must still be a refusal, never a crash upstream
        log.exception("document check failed unexpectedly")
        raise InvalidDocument(f"content could not be checked ({type(exc).__name__})") from exc


def _parse(data: bytes, reply: bool | None) -> Document:
    if len(data) > MAX_BYTES:
        raise DocumentTooLarge(f"content is {len(data)} bytes; the limit is {MAX_BYTES}")
    if data.startswith(_BOM):
        raise InvalidDocument("content starts with a byte order mark; documents are UTF-8 without one")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"content is not valid UTF-8 (byte {exc.start})") from exc
    _refuse_nesting(text)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_number,
            parse_float=_number,
        )
    except json.JSONDecodeError as exc:
        message = exc.msg.removesuffix(" at")  # "Invalid control character at" names no place itself
        raise InvalidDocument(f"content is not valid JSON: {message} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise InvalidDocument("content must be a JSON object")
    extra = sorted(set(value) - KEYS)
    if extra:
        raise InvalidDocument(f"unknown key {_quote(extra[0])}: only 'title', 'body' and 'topic' are allowed")
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
        if "topic" in value:
            raise InvalidDocument("a reply must not have a topic: it is in its thread's")
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
    return Document(title=title, body=body, topic=_topic(value))


def _topic(value: dict[str, Any]) -> str | None:
    """The document's topic, None without one; InvalidDocument unless a short lowercase slug."""
    if "topic" not in value:
        return None
    topic = value["topic"]
    if not isinstance(topic, str) or len(topic) > MAX_TOPIC_CHARS or not _TOPIC.fullmatch(topic):
        raise InvalidDocument(
            f"'topic' must be a lowercase slug (a-z, 0-9, single hyphens inside), 1 to {MAX_TOPIC_CHARS} characters"
        )
    return topic


def _refuse_nesting(text: str) -> None:
    """Refuse any array or object inside the top level, before json builds (and recurses into) it."""
    depth, in_string, escaped_until = 0, False, -1
    for match in _STRUCTURE.finditer(text):
        at = match.start()
        if at < escaped_until:  # the character after a backslash in a string
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                escaped_until = at + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > 1:
                raise InvalidDocument(f"nested value at character {at}: a document is a flat object of strings")
        elif char in "]}":
            depth -= 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidDocument(f"duplicate key {_quote(key)}")
        seen.add(key)
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise InvalidDocument(f"invalid JSON: {name} is not allowed")


def _number(_literal: str) -> object:
    return _NUMBER


def _quote(key: str) -> str:
    """A key as a reason shows it: repr escapes controls and surrogates; long keys are cut."""
    return repr(key[:40] + "…" if len(key) > 40 else key)


def _check_text(key: str, text: object) -> None:
    if not isinstance(text, str):
        return
    found = _FORBIDDEN.search(text)
    if found is None and not text.isascii() and max(text) >= "\U0001fffe":
        found = _ASTRAL_NONCHARACTER.search(text)
    if found is None:
        return
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        kind = "a lone UTF-16 surrogate"
    elif code < 0x20 or 0x7F <= code <= 0x9F:
        kind = "a control character"
    else:
        kind = "a Unicode noncharacter"
    raise InvalidDocument(f"{key!r} contains {kind} (U+{code:04X} at character {found.start()})")


def scrub_text(text: str) -> str:
    """``text`` with every character a document may not hold replaced by U+FFFD (legal XML 1.0, storable)."""
    text = _FORBIDDEN.sub("\ufffd", text)
    if not text.isascii() and max(text) >= "\U0001fffe":
        text = _ASTRAL_NONCHARACTER.sub("\ufffd", text)
    return text


def encode_document(title: str | None, body: str, topic: str | None = None) -> bytes:
    """Canonical bytes of a document (compact JSON, UTF-8), e.g. for tests and seeding."""
    value: dict[str, str] = {"body": body} if title is None else {"title": title, "body": body}
    if topic is not None:
        value["topic"] = topic
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
