"""Finality (issue 21.5): index up to the node's ``safe``/``finalized`` block, or the head less confirmations.

Anvil names ``safe`` and ``finalized`` 32 and 64 blocks below its head; a node that knows
neither tag (the provider proxy refuses them as older clients do) falls back, and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from web3 import Web3
from web3.types import RPCEndpoint

from backend.config import Settings
from backend.content.cid import sha256
from backend.devchain import DevNode
from backend.indexer.finality import Finality
from backend.indexer.runner import Indexer
from tests.support.board import connect, deploy_board
from tests.support.index import make_settings
from tests.support.provider_proxy import Behaviour, ProviderProxy
from tests.support.wait import wait_for


def _mine(w3: Web3, blocks: int) -> None:
    w3.provider.make_request(
        RPCEndpoint("evm_mine" if blocks == 1 else "anvil_mine"), [] if blocks == 1 else [hex(blocks)]
    )


def _tag_number(w3: Web3, tag: str) -> int | None:
    answer: Any = w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [tag, False])
    result = answer.get("result")
    return int(result["number"], 16) if isinstance(result, dict) else None


@pytest.mark.parametrize("rule", ["safe", "finalized"])
def test_the_index_stops_at_the_nodes_tagged_block(anvil: DevNode, data_dir: Path, database_url: str, rule: str):
    w3 = connect(anvil)
    board = deploy_board(w3, data_dir)
    settled = board.post(sha256(b"settled"))
    _mine(w3, 70)
    fresh = board.post(sha256(b"too fresh"))
    settings = make_settings(data_dir, anvil.url, database_url, finality=rule)
    indexer = Indexer(settings)
    try:
        indexer.run(once=True)
        tagged = _tag_number(w3, rule)
        assert tagged is not None and tagged == w3.eth.block_number - (32 if rule == "safe" else 64)
        assert indexer.health.indexed_block == indexer.health.target_block == tagged
        assert indexer.health.finality == f"the node's '{rule}' block"
        with indexer.engine.connect() as conn:
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM posts ORDER BY id")]
        assert settled in ids and fresh not in ids
    finally:
        indexer.close()
        indexer.engine.dispose()


def test_a_node_without_the_tag_falls_back_to_confirmations_and_status_says_so(
    ganache: DevNode, data_dir: Path, database_url: str, make_client: Any
):
    w3 = connect(ganache)
    board = deploy_board(w3, data_dir)
    board.post(sha256(b"one"))
    _mine(w3, 1)
    _mine(w3, 1)
    with ProviderProxy(ganache.url, Behaviour(unknown_tags=("safe", "finalized"))) as proxy:
        settings = make_settings(data_dir, proxy.url, database_url, finality="finalized", confirmations=2)
        client: TestClient = make_client(settings)
        expected = "head minus 2 confirmations (the node has no 'finalized' block)"

        def fallen_back() -> bool:
            indexer = client.get("/api/status").json()["index"]["indexer"]
            return bool(indexer and indexer["finality"] == expected and indexer["caught_up"])

        wait_for(fallen_back, timeout=30, what="the fallback rule in /api/status")
        status = client.get("/api/status").json()["index"]
        assert status["indexer"]["target_block"] == status["indexer"]["head_block"] - 2 == status["indexed_block"]
        assert f'<dd id="finality">{escape(expected)}</dd>' in client.get("/status").text
        assert proxy.fates["unknown_tag"] == 1  # asked once; the rule is kept for the process


def test_an_unknown_rule_stops_startup_naming_the_setting(tmp_path: Path):
    with pytest.raises(
        ValueError, match=r"^INDELIBLE_FINALITY must be one of confirmations, safe, finalized, not 'final'$"
    ):
        Settings(data_dir=tmp_path, finality="final")
    with pytest.raises(ValueError, match=r"^INDELIBLE_FINALITY must be one of"):
        Finality("latest", 0)


def test_confirmations_rule_is_the_default(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    assert Finality(settings.finality, 3).in_force == "head minus 3 confirmations"
