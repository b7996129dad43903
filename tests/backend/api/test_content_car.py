"""GET /api/content/car: many pinned files in one CARv1, read back here by a CAR reader written from the spec."""

from __future__ import annotations

import hashlib

import cbor2
import pytest

from backend.content.cid import CID_PREFIX, cid_of, digest_to_cid
from backend.content.document import encode_document

JSON = {"Content-Type": "application/json"}
CAR = "application/vnd.ipld.car"


@pytest.fixture
def api(make_client, settings, board):
    """The app without its indexer: these routes need none."""
    return make_client(settings, run_indexer=False)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def read_car(data: bytes) -> tuple[dict[str, object], list[tuple[str, bytes]]]:
    """A CARv1's decoded header and its (CID, bytes) blocks, every CID a raw sha2-256 CIDv1."""
    size, at = _varint(data, 0)
    header = cbor2.loads(data[at : at + size])
    at += size
    blocks = []
    while at < len(data):
        size, at = _varint(data, at)
        section = data[at : at + size]
        assert section.startswith(CID_PREFIX)
        blocks.append((digest_to_cid(section[4:36]), section[36:]))
        at += size
    return header, blocks


def test_a_car_holds_each_pinned_file_once_in_the_order_asked_and_names_every_cid_asked(api):
    files = [encode_document(f"Post {i}", "x" * (i * 300)) for i in range(5)]  # a block of 1,200 bytes: varint 2
    cids = [api.post("/api/content", content=data, headers=JSON).json()["cid"] for data in files]
    absent = cid_of(b"pinned nowhere")
    asked = [cids[3], absent, cids[0], cids[4], cids[3], cids[1], cids[2]]
    response = api.get("/api/content/car", params=[("cid", c) for c in asked])
    assert response.status_code == 200
    assert response.headers["content-type"] == CAR
    assert response.headers["access-control-allow-origin"] == "*"
    header, blocks = read_car(response.content)
    assert header["version"] == 1
    roots = header["roots"]
    assert all(isinstance(r, cbor2.CBORTag) and r.tag == 42 and r.value[:1] == b"\0" for r in roots)
    assert [digest_to_cid(r.value[5:]) for r in roots] == list(dict.fromkeys(asked))
    assert [cid for cid, _ in blocks] == [cids[3], cids[0], cids[4], cids[1], cids[2]]
    for cid, data in blocks:
        assert cid_of(data) == cid and data in files
    # the header is the canonical DAG-CBOR a CAR reader expects: "roots" before "version"
    size, at = _varint(response.content, 0)
    assert size > 127  # six roots: the header's length is a two-byte varint
    assert cbor2.dumps(header, canonical=True) == response.content[at : at + size]


def test_a_corrupted_pin_has_no_block_in_the_car(api, settings):
    good, rotten = encode_document("Kept", ""), encode_document("Will rot", "")
    good_cid = api.post("/api/content", content=good, headers=JSON).json()["cid"]
    rotten_cid = api.post("/api/content", content=rotten, headers=JSON).json()["cid"]
    next(settings.content_dir.rglob(rotten_cid)).write_bytes(b'{"title": "forged", "body": ""}')
    response = api.get("/api/content/car", params=[("cid", rotten_cid), ("cid", good_cid)])
    header, blocks = read_car(response.content)
    assert len(header["roots"]) == 2
    assert blocks == [(good_cid, good)]
    again = api.post("/api/content", content=good, headers=JSON).json()
    assert "0x" + hashlib.sha256(blocks[0][1]).hexdigest() == again["digest"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ([], "Field required"),
        ([("cid", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")], "only base32 CIDv1"),
        ([("cid", cid_of(b"fine")), ("cid", "bafkreihdwdcefgh4dqkjv67u")], "the raw codec and a sha2-256"),
        ([("cid", cid_of(str(i).encode())) for i in range(101)], "at most 100 items after validation, not 101"),
    ],
)
def test_bad_requests_are_400_with_reason(api, params, detail):
    response = api.get("/api/content/car", params=params)
    assert response.status_code in (400, 422)
    assert detail in str(response.json()["detail"])


def test_the_same_cid_a_hundred_times_is_one_cid(api):
    data = encode_document("Once", "")
    cid = api.post("/api/content", content=data, headers=JSON).json()["cid"]
    response = api.get("/api/content/car", params=[("cid", cid)] * 150)
    assert response.status_code == 422  # 150 asked is over the cap even when they are all the same
    response = api.get("/api/content/car", params=[("cid", cid)] * 100)
    header, blocks = read_car(response.content)
    assert len(header["roots"]) == 1 and blocks == [(cid, data)]


def test_a_car_past_the_process_file_budget_is_a_503_before_any_file_is_read(api, monkeypatch):
    """CAR_FILES files a second and at once: a CAR past that is refused at once with Retry-After; the budget
    comes back with time."""
    from backend.api import gateway

    cid = api.post("/api/content", content=encode_document("Busy", ""), headers=JSON).json()["cid"]
    many = [("cid", cid)] + [("cid", cid_of(str(i).encode())) for i in range(99)]
    monkeypatch.setattr(gateway, "CAR_FILES", 150.0)
    monkeypatch.setattr(gateway, "_car_budget", [150.0, gateway.time.monotonic()])
    assert api.get("/api/content/car", params=many).status_code == 200  # 100 of 150
    response = api.get("/api/content/car", params=many)  # 100 more: about 50 left
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["detail"] == "busy: too many CARs asked; try again shortly"
    assert api.get("/api/content/car", params=many[:40]).status_code == 200  # 40 still fit
    gateway._car_budget[1] -= 1.0  # a second later: the budget is whole again
    header, blocks = read_car(api.get("/api/content/car", params=many).content)
    assert len(header["roots"]) == 100 and [c for c, _ in blocks] == [cid]
