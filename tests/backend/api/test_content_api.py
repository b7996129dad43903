"""POST /api/content and GET /ipfs/{cid}: upload, round trip, trustless gateway answers, bad input."""

from __future__ import annotations

import hashlib
import json

import pytest

from backend.content.cid import cid_of
from backend.content.document import MAX_BYTES, encode_document

NOT_BASE32 = "only base32 CIDv1 (starting with 'b') is supported"
NOT_RAW_SHA256 = "only CIDv1 with the raw codec and a sha2-256 multihash is supported"
NO_PROPERTY = "Expecting property name enclosed in double quotes at line 1 column 2"
UNKNOWN_TAGS = "unknown key 'tags': only 'title', 'body' and 'topic' are allowed"
JSON = {"Content-Type": "application/json"}
RAW = "application/vnd.ipld.raw"


@pytest.fixture
def api(make_client, settings, board):
    """The app without its indexer: these routes need none."""
    return make_client(settings, run_indexer=False)


def test_upload_returns_cid_and_digest_then_round_trips(api):
    data = encode_document("Hello", "World")
    response = api.post("/api/content", content=data, headers=JSON)
    assert response.status_code == 201
    assert response.json() == {"cid": cid_of(data), "digest": "0x" + hashlib.sha256(data).hexdigest()}
    fetched = api.get(f"/ipfs/{cid_of(data)}")
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "application/json"


def test_second_upload_of_same_bytes_answers_200(api):
    data = encode_document("Twice", "")
    assert api.post("/api/content", content=data, headers=JSON).status_code == 201
    again = api.post("/api/content", content=data, headers=JSON)
    assert again.status_code == 200
    assert again.json()["cid"] == cid_of(data)


def test_reply_document_is_accepted_with_reply_flag(api):
    data = encode_document(None, "a reply")
    assert api.post("/api/content?reply=true", content=data, headers=JSON).status_code == 201


@pytest.mark.parametrize("accept_raw", [False, True])
def test_raw_block_answer_follows_trustless_gateway_spec(api, accept_raw):
    data = encode_document("Raw", "block")
    cid = api.post("/api/content", content=data, headers=JSON).json()["cid"]
    if accept_raw:
        response = api.get(f"/ipfs/{cid}", headers={"Accept": RAW})
    else:
        response = api.get(f"/ipfs/{cid}?format=raw")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == RAW
    assert response.headers["content-disposition"] == f'attachment; filename="{cid}.bin"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"] == f'"{cid}.raw"'
    assert "immutable" in response.headers["cache-control"]


def test_unknown_cid_is_404(api):
    response = api.get(f"/ipfs/{cid_of(b'never uploaded')}")
    assert response.status_code == 404
    assert response.json()["detail"] == "content not found"


@pytest.mark.parametrize(
    ("cid", "detail"),
    [
        ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "invalid CID: " + NOT_BASE32),
        ("b!!!", "invalid CID: not valid base32"),
        ("bafkreihdwdcefgh4dqkjv67u", "invalid CID: " + NOT_RAW_SHA256),
    ],
)
def test_malformed_cid_is_400_with_reason(api, cid, detail):
    response = api.get(f"/ipfs/{cid}")
    assert response.status_code == 400
    assert response.json()["detail"] == detail


def test_unsupported_format_is_400(api):
    cid = cid_of(b"")
    response = api.get(f"/ipfs/{cid}?format=car")
    assert response.status_code == 400
    assert response.json()["detail"] == "unsupported format 'car': only 'raw' is served"


def test_corrupted_pin_is_not_served(api, settings):
    data = encode_document("Will rot", "")
    cid = api.post("/api/content", content=data, headers=JSON).json()["cid"]
    path = next(p for p in settings.content_dir.rglob(cid))
    path.write_bytes(b'{"title": "forged", "body": ""}')
    response = api.get(f"/ipfs/{cid}")
    assert response.status_code == 404
    assert response.json()["detail"] == "content not found"


@pytest.mark.parametrize(
    ("data", "query", "status", "detail"),
    [
        (b"\xc3\x28", "", 422, "content is not valid UTF-8 (byte 0)"),
        (b"{not json", "", 422, "content is not valid JSON: " + NO_PROPERTY),
        (b'{"body": "reply text"}', "?reply=false", 422, "a top-level post needs a title"),
        (b'{"title": "T", "body": "b"}', "?reply=true", 422, "a reply must not have a title"),
        (b'{"title": "T", "body": "b", "tags": "t"}', "", 422, UNKNOWN_TAGS),
    ],
)
def test_bad_documents_are_refused_with_message(api, data, query, status, detail):
    response = api.post(f"/api/content{query}", content=data, headers=JSON)
    assert response.status_code == status
    assert response.json()["detail"] == detail


def test_oversized_upload_is_413(api):
    data = json.dumps({"title": "big", "body": "x" * MAX_BYTES}).encode()
    response = api.post("/api/content", content=data, headers=JSON)
    assert response.status_code == 413
    assert response.json()["detail"] == f"content is {len(data)} bytes; the limit is {MAX_BYTES}"


def test_upload_needs_json_content_type(api):
    response = api.post("/api/content", content=encode_document("t", "b"), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["detail"] == "Content-Type must be application/json"
