"""CIDs, content documents and the local pin store (no chain, no app)."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from backend.content.cid import InvalidCid, cid_of, cid_to_digest, digest_to_cid
from backend.content.document import (
    MAX_BYTES,
    MAX_TITLE_CHARS,
    DocumentTooLarge,
    InvalidDocument,
    encode_document,
    parse_document,
)
from backend.content.pins import PinStore

NOT_BASE32 = "only base32 CIDv1 (starting with 'b') is supported"
NOT_RAW_SHA256 = "only CIDv1 with the raw codec and a sha2-256 multihash is supported"
EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

UNKNOWN_EXTRA = "unknown key 'extra': only 'title', 'body' and 'topic' are allowed"


def test_cid_of_empty_bytes_is_the_known_vector():
    assert cid_of(b"") == EMPTY_CID


def test_cid_round_trips_to_its_digest():
    digest = hashlib.sha256(b"hello").digest()
    cid = digest_to_cid(digest)
    assert cid.startswith("bafkrei")
    assert cid_to_digest(cid) == digest


@pytest.mark.parametrize(
    ("cid", "message"),
    [
        ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", NOT_BASE32),
        ("BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU", NOT_BASE32),
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1", "not valid base32"),
        ("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", NOT_RAW_SHA256),
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxq", NOT_RAW_SHA256),
    ],
)
def test_malformed_cids_are_refused_with_a_reason(cid, message):
    with pytest.raises(InvalidCid, match="^" + re.escape(message) + "$"):
        cid_to_digest(cid)


def test_top_level_document_parses():
    document = parse_document(encode_document("A title", "Some *markdown*"))
    assert (document.title, document.body, document.is_reply) == ("A title", "Some *markdown*", False)


def test_reply_document_parses_without_title():
    document = parse_document(encode_document(None, "a reply"), reply=True)
    assert (document.title, document.body) == (None, "a reply")


@pytest.mark.parametrize(
    ("data", "reply", "message"),
    [
        (b"\xff\xfe{}", None, "content is not valid UTF-8 (byte 0)"),
        (b'{"title": "x", "body": ', None, "content is not valid JSON: Expecting value at line 1 column 24"),
        (b"[1, 2]", None, "content must be a JSON object"),
        (b'{"title": "x", "body": "y", "extra": 1}', None, UNKNOWN_EXTRA),
        (b'{"title": "x", "title": "y", "body": ""}', None, "duplicate key 'title'"),
        (b'{"title": "x"}', None, "'body' must be a string"),
        (b'{"body": "no title"}', False, "a top-level post needs a title"),
        (b'{"title": "", "body": "b"}', None, "'title' must be a non-empty string"),
        (b'{"title": 7, "body": "b"}', None, "'title' must be a non-empty string"),
        (b'{"title": "t", "body": "b"}', True, "a reply must not have a title"),
        (b'{"body": "   "}', None, "a reply needs a non-empty body"),
        (b'{"title": "t", "body": NaN}', None, "invalid JSON: NaN is not allowed"),
    ],
)
def test_invalid_documents_are_refused_with_a_clear_message(data, reply, message):
    with pytest.raises(InvalidDocument) as info:
        parse_document(data, reply=reply)
    assert str(info.value) == message


def test_overlong_title_is_refused():
    with pytest.raises(InvalidDocument, match=f"the limit is {MAX_TITLE_CHARS}"):
        parse_document(encode_document("x" * (MAX_TITLE_CHARS + 1), ""))


def test_document_over_64_kib_is_too_large():
    data = json.dumps({"title": "big", "body": "x" * MAX_BYTES}).encode()
    with pytest.raises(DocumentTooLarge, match=f"the limit is {MAX_BYTES}"):
        parse_document(data)


def test_document_of_exactly_64_kib_is_accepted():
    base = len(encode_document("t", ""))
    data = encode_document("t", "x" * (MAX_BYTES - base))
    assert len(data) == MAX_BYTES
    assert parse_document(data).title == "t"


def test_pin_store_stores_same_bytes_once(tmp_path):
    store = PinStore(tmp_path)
    cid, created = store.put(b"hello")
    again, created_again = store.put(b"hello")
    assert (cid, created, created_again) == (again, True, False)
    assert store.get(cid) == b"hello"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [store.path_for(cid)]


def test_pin_store_fans_out_by_digest(tmp_path):
    store = PinStore(tmp_path)
    cid, _ = store.put(b"fan out")
    digest = cid_to_digest(cid).hex()
    assert store.path_for(cid) == tmp_path / digest[:2] / digest[2:4] / cid


def test_pin_store_never_returns_corrupt_bytes(tmp_path):
    store = PinStore(tmp_path)
    cid, _ = store.put(b"original")
    store.path_for(cid).write_bytes(b"tampered")
    assert store.get(cid) is None
    assert not store.has(cid)
    assert store.put(b"original") == (cid, True)


def test_pin_store_leaves_no_temporary_files(tmp_path):
    store = PinStore(tmp_path)
    for i in range(20):
        store.put(f"doc {i}".encode())
    assert not [p for p in tmp_path.rglob("*.tmp")]
    assert all(os.path.getsize(p) > 0 for p in tmp_path.rglob("b*") if p.is_file())
