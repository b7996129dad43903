"""Who the client is, over real HTTP, under uvicorn configured as ``python -m backend serve`` configures it.

Without ``INDELIBLE_TRUSTED_PROXIES`` the TCP peer is the client whatever headers it sends: a
same-host forwarder that adds no header (an onion service, an ssh tunnel) connects from
127.0.0.1, so a random ``X-Forwarded-For`` per request must not buy fresh relay, new-signer or
upload limits. With the proxy named, each client behind it gets its own buckets, found from
the right of the forwarded list; a forwarded value that is not an IP address is a 400.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
import uvicorn
from eth_account import Account

from backend import __main__ as cli
from backend.clients import parse_address, parse_proxies
from backend.config import Settings
from backend.content.cid import sha256
from backend.devchain import Ganache, free_port
from tests.backend.relay.test_relay import BOB, signed_vote
from tests.support.board import BoardHandle
from tests.support.index import make_settings
from tests.support.servers import serving

Headers = list[tuple[str, str]]


def _random_ip() -> str:
    return ".".join(str(b) for b in secrets.token_bytes(4))


def _random_ipv6() -> str:
    return ":".join(secrets.token_hex(2) for _ in range(8))


# every way a client alone might name another client: none may change who it is counted as
LIES: dict[str, Any] = {
    "one random address": lambda: [("X-Forwarded-For", _random_ip())],
    "a random list": lambda: [("X-Forwarded-For", f"{_random_ip()}, {_random_ip()}")],
    "two headers": lambda: [("X-Forwarded-For", _random_ip()), ("X-Forwarded-For", _random_ip())],
    "IPv6": lambda: [("X-Forwarded-For", _random_ipv6())],
    "bracketed IPv6 with a port": lambda: [("X-Forwarded-For", f"[{_random_ipv6()}]:443")],
    "RFC 7239 Forwarded": lambda: [("Forwarded", f"for={_random_ip()};proto=https")],
    "X-Real-IP": lambda: [("X-Real-IP", _random_ip())],
    "not an address": lambda: [("X-Forwarded-For", secrets.token_hex(8))],
}


@pytest.fixture
def refused_vote(board: BoardHandle) -> dict[str, Any]:
    """A well-signed vote on a post that does not exist: each relay counts against the client, then 400."""
    return {"kind": "vote", **signed_vote(board, BOB, 5, 1)}


def _settings(data_dir: Path, ganache: Ganache, database_url: str, **overrides: Any) -> Settings:
    """Settings on a free local port, with a relay limit of 2 requests then 1 a minute unless overridden."""
    values = {"host": "127.0.0.1", "port": free_port(), "relay_rate": 1, "relay_burst": 2} | overrides
    return make_settings(data_dir, ganache.url, database_url, **values)


def _serve_config(settings: Settings) -> uvicorn.Config:
    """The uvicorn.Config that ``python -m backend serve`` runs for ``settings``."""
    captured: dict[str, Any] = {}
    with mock.patch.object(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs)):
        cli.serve(settings)
    return uvicorn.Config(**captured | {"log_level": "warning"})


@contextmanager
def _served(settings: Settings) -> Iterator[httpx.Client]:
    """``serve``'s app and config in a real uvicorn on a thread; a client of it from 127.0.0.1."""
    with (
        serving(_serve_config(settings)),
        httpx.Client(base_url=f"http://{settings.host}:{settings.port}", timeout=30, trust_env=False) as http,
    ):
        yield http


def _relay(http: httpx.Client, body: dict[str, Any], headers: Headers) -> httpx.Response:
    return http.post("/api/relay", json=body, headers=httpx.Headers(headers))


def _statuses(http: httpx.Client, body: dict[str, Any], headers: list[Headers]) -> list[int]:
    return [_relay(http, body, h).status_code for h in headers]


def _forwarded(*values: str) -> list[Headers]:
    return [[("X-Forwarded-For", value)] for value in values]


# --- no trusted proxy: the peer is the client ---------------------------------------------------------------


def test_serve_turns_uvicorns_forwarded_handling_off(data_dir: Path, ganache: Ganache, database_url: str):
    config = _serve_config(_settings(data_dir, ganache, database_url))
    assert config.proxy_headers is False


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_made_up_forwarded_address_per_request_gets_no_fresh_relay_limit(
    lie: str, data_dir: Path, ganache: Ganache, database_url: str, refused_vote: dict[str, Any]
):
    with _served(_settings(data_dir, ganache, database_url)) as http:
        statuses = _statuses(http, refused_vote, [LIES[lie]() for _ in range(4)])
    assert statuses == [400, 400, 429, 429]


def test_a_made_up_forwarded_address_per_request_gets_no_fresh_upload_limit(
    data_dir: Path, ganache: Ganache, database_url: str
):
    settings = _settings(data_dir, ganache, database_url, upload_requests=2)
    with _served(settings) as http:
        statuses = [
            http.post(
                "/api/content", content=b"{}", headers={"content-type": "application/json", **dict(LIES[lie]())}
            ).status_code
            for lie in ["one random address", "two headers", "IPv6", "RFC 7239 Forwarded"]
        ]
    assert statuses == [422, 422, 429, 429]


def test_a_made_up_forwarded_address_per_request_gets_no_fresh_new_signer_limit(
    data_dir: Path, ganache: Ganache, database_url: str, board: BoardHandle
):
    settings = _settings(data_dir, ganache, database_url, relay_rate=600, relay_burst=100, relay_new_signers_per_hour=2)
    post_id = board.post(sha256(b"voted on by strangers"))
    signers = [Account.create() for _ in range(4)]
    with _served(settings) as http:
        answers = [
            _relay(http, {"kind": "vote", **signed_vote(board, signer, post_id, 1)}, LIES["a random list"]())
            for signer in signers
        ]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert answers[2].json()["detail"].startswith("too many new signers from your address: at most 2 an hour")


# --- the proxy named: the client it forwarded -----------------------------------------------------------------


@pytest.fixture
def behind_proxy(data_dir: Path, ganache: Ganache, database_url: str) -> Settings:
    """127.0.0.1 is a trusted proxy (as a reverse proxy on the same host is)."""
    return _settings(data_dir, ganache, database_url, trusted_proxies=parse_proxies("127.0.0.1, 10.0.0.0/8"))


def test_each_client_behind_a_trusted_proxy_gets_its_own_bucket(behind_proxy: Settings, refused_vote: dict[str, Any]):
    with _served(behind_proxy) as http:
        statuses = _statuses(http, refused_vote, _forwarded(*["203.0.113.7"] * 3, "203.0.113.8"))
    assert statuses == [400, 400, 429, 400]


@pytest.mark.parametrize(
    "headers",
    [
        [[("X-Forwarded-For", f"198.51.100.{n}, 203.0.113.7")] for n in range(1, 5)],  # leftmost written by the client
        [[("X-Forwarded-For", f"198.51.100.{n}"), ("X-Forwarded-For", "203.0.113.7")] for n in range(1, 5)],
        [[("X-Forwarded-For", f"198.51.100.{n}, 203.0.113.7, 10.1.2.3")] for n in range(1, 5)],  # two proxies
        [[("X-Forwarded-For", "203.0.113.7, 127.0.0.1"), ("Forwarded", f"for=198.51.100.{n}")] for n in range(1, 5)],
        [[("X-Forwarded-For", "::ffff:203.0.113.7")], *_forwarded("203.0.113.7:5555", "203.0.113.7", "203.0.113.7")],
    ],
    ids=["spoofed leftmost", "two headers", "chain of trusted proxies", "Forwarded ignored", "IPv4 forms"],
)
def test_addresses_a_client_writes_before_the_proxys_entry_are_ignored(
    behind_proxy: Settings, refused_vote: dict[str, Any], headers: list[Headers]
):
    with _served(behind_proxy) as http:
        statuses = _statuses(http, refused_vote, headers)
    assert statuses == [400, 400, 429, 429]


def test_addresses_of_one_ipv6_64_share_a_bucket_behind_a_trusted_proxy(
    behind_proxy: Settings, refused_vote: dict[str, Any]
):
    same_64 = ["2001:db8:1:2::1", "[2001:db8:1:2::ffff]:443", "2001:DB8:1:2:aaaa::1"]
    with _served(behind_proxy) as http:
        statuses = _statuses(http, refused_vote, _forwarded(*same_64, "2001:db8:1:3::1"))
    assert statuses == [400, 400, 429, 400]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("not-an-ip", "not-an-ip"),
        ("203.0.113.7, unknown", "unknown"),
        ("203.0.113.7,,", ""),
        ("1.2.3.4:99999", "1.2.3.4:99999"),
    ],
)
def test_a_forwarded_value_that_is_not_an_ip_address_is_400(
    behind_proxy: Settings, refused_vote: dict[str, Any], value: str, named: str
):
    with _served(behind_proxy) as http:
        relayed = _relay(http, refused_vote, [("X-Forwarded-For", value)])
        uploaded = http.post(
            "/api/content", content=b"{}", headers={"content-type": "application/json", "X-Forwarded-For": value}
        )
    expected = {"detail": f"X-Forwarded-For entry {named!r} is not an IP address"}
    assert (relayed.status_code, relayed.json()) == (400, expected)
    assert (uploaded.status_code, uploaded.json()) == (400, expected)


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    data_dir: Path, ganache: Ganache, database_url: str, refused_vote: dict[str, Any]
):
    settings = _settings(data_dir, ganache, database_url, trusted_proxies=parse_proxies("192.0.2.10"))
    with _served(settings) as http:
        statuses = _statuses(http, refused_vote, _forwarded(*(f"203.0.113.{n}" for n in range(7, 11))))
    assert statuses == [400, 400, 429, 429]


# --- the parsing itself -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("203.0.113.7", "203.0.113.7"), (" 203.0.113.7 ", "203.0.113.7"), ("203.0.113.7:80", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"), ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"), ("[::ffff:203.0.113.7]:1", "203.0.113.7"),
        ("", None), ("unknown", None), ("203.0.113", None), ("203.0.113.7:", None), ("203.0.113.7:x", None),
        ("[2001:db8::1", None), ("[2001:db8::1]x", None), ("2001:db8::1:443:1:1:1:1", None), ("for=1.2.3.4", None),
        ("_hidden", None), ("1.2.3.4:65536", None),
    ],
)  # fmt: skip
def test_forwarded_entries_parse_as_proxies_write_them(text: str, parsed: str | None):
    address = parse_address(text)
    assert (str(address) if address else None) == parsed


def test_a_trusted_proxies_setting_that_is_not_addresses_stops_startup(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INDELIBLE_TRUSTED_PROXIES", "10.0.0.1, proxy.internal")
    with pytest.raises(
        ValueError, match=r"INDELIBLE_TRUSTED_PROXIES: 'proxy\.internal' is not an IP address or network"
    ):
        Settings()
