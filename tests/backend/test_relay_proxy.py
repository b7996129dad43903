"""POST /api/relay behind a reverse proxy, over real HTTP, under uvicorn configured as ``python -m backend serve`` does.

uvicorn puts the X-Forwarded-For client in ``request.client`` when the
connection comes from an address in ``FORWARDED_ALLOW_IPS`` (default
``127.0.0.1,::1``), so each real client behind a local proxy gets its own relay
bucket; from any other address the header is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
import uvicorn

from backend import __main__ as cli
from backend.config import Settings
from backend.devchain import Ganache, free_port
from tests.backend.test_relay import BOB, signed_vote
from tests.support.board import BoardHandle
from tests.support.index import make_settings
from tests.support.servers import serving


@pytest.fixture
def serve_settings(data_dir: Path, ganache: Ganache, database_url: str, board: BoardHandle) -> Settings:
    """Settings for this test's Board, on a free local port, with a relay limit of 2 requests then 1 a minute."""
    return make_settings(
        data_dir, ganache.url, database_url, host="127.0.0.1", port=free_port(), relay_rate=1, relay_burst=2
    )


@pytest.fixture
def refused_vote(board: BoardHandle) -> dict[str, Any]:
    """A well-signed vote on a post that does not exist: each relay counts against the client, then 400."""
    return {"kind": "vote", **signed_vote(board, BOB, 5, 1)}


def _serve_config(settings: Settings) -> uvicorn.Config:
    """The uvicorn.Config that ``python -m backend serve`` runs for ``settings``."""
    captured: dict[str, Any] = {}
    with mock.patch.object(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs)):
        cli.serve(settings)
    return uvicorn.Config(**captured | {"log_level": "warning"})


@contextmanager
def _served(settings: Settings) -> Iterator[str]:
    """Run ``serve``'s app and config in a real uvicorn on a thread; yields its base URL."""
    config = _serve_config(settings)
    with serving(config):
        yield f"http://{settings.host}:{settings.port}"


def _statuses(base_url: str, body: dict[str, Any], forwarded_for: list[str]) -> list[int]:
    """POST ``body`` once per X-Forwarded-For value, in order, from 127.0.0.1."""
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:  # no HTTP_PROXY detour
        return [http.post("/api/relay", json=body, headers={"X-Forwarded-For": ip}).status_code for ip in forwarded_for]


def test_each_client_behind_a_local_proxy_gets_its_own_bucket(
    serve_settings: Settings, refused_vote: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # uvicorn's default: 127.0.0.1,::1
    with _served(serve_settings) as base_url:
        statuses = _statuses(base_url, refused_vote, ["203.0.113.7"] * 3 + ["203.0.113.8"])
    assert statuses == [400, 400, 429, 400]


def test_address_a_client_forges_before_the_proxys_entry_is_ignored(
    serve_settings: Settings, refused_vote: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    # The proxy appends the peer it saw; the client controls only what comes before.
    forged = [f"198.51.100.{n}, 203.0.113.7" for n in range(1, 5)]
    with _served(serve_settings) as base_url:
        statuses = _statuses(base_url, refused_vote, forged)
    assert statuses == [400, 400, 429, 429]


def test_forwarded_for_from_an_untrusted_address_shares_the_peers_bucket(
    serve_settings: Settings, refused_vote: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.10")  # the proxy runs elsewhere; 127.0.0.1 is a client
    with _served(serve_settings) as base_url:
        statuses = _statuses(base_url, refused_vote, [f"203.0.113.{n}" for n in range(7, 11)])
    assert statuses == [400, 400, 429, 429]
