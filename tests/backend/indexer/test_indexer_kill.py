"""kill -9 at random moments during indexing, restart, and the index equals a clean one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace

from sqlalchemy import select

from backend.config import PROJECT_ROOT
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.db.models import Meta
from backend.db.session import make_engine
from tests.support.index import POSTGRES_URL, dump_index
from tests.support.index import reset_postgres as _reset_postgres

KILLS = 6


def _env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "INDELIBLE_DATA_DIR": str(settings.data_dir),
        "INDELIBLE_RPC_URL": settings.rpc_url,
        "INDELIBLE_DATABASE_URL": settings.effective_database_url,
        "INDELIBLE_START_CHAIN": "never",
        "INDELIBLE_CONTRACT_ADDRESS": "",
        "INDELIBLE_CONFIRMATIONS": "0",
        "INDELIBLE_IPFS_GATEWAYS": "",
        "INDELIBLE_IPFS_API_URL": "",
    }


def _indexer(settings, *options: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "backend", "index", "--once", *options]
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _indexed_block(engine) -> int:
    try:
        with engine.connect() as conn:
            value = conn.execute(select(Meta.value).where(Meta.key == "indexed_block")).scalar()
    except Exception:  # tables not created yet
        return -1
    return int(value) if value is not None else -1


def _seed(board, store: PinStore) -> None:
    """40 posts and replies (half their content pinned), 80 votes: about 120 blocks."""
    accounts = board.w3.eth.accounts
    ids = []
    for i in range(40):
        parent = ids[i // 2] if i % 3 == 2 else 0
        document = encode_document(None if parent else f"post {i}", f"body {i}")
        if i % 2 == 0:
            store.put(document)  # half the content is pinned before indexing
        ids.append(board.post(sha256(document), parent, sender=accounts[i % 10]))
    for i in range(80):
        board.vote(ids[i % len(ids)], (1, -1, 0)[i % 3], accounts[(i * 7) % 20])


def test_index_survives_kill_9_at_random_moments(board, settings):
    _seed(board, PinStore(settings.content_dir))
    head = board.w3.eth.block_number
    rng = random.Random(int(time.time()))
    engine = make_engine(settings.effective_database_url)
    positions = []
    for _ in range(KILLS):
        before = _indexed_block(engine)
        process = _indexer(settings, "--max-range", "1")  # a commit per block: many moments to be killed at
        deadline = time.monotonic() + 30
        while _indexed_block(engine) <= before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.08))  # a range commits every few ms
        process.send_signal(signal.SIGKILL)
        process.wait()
        positions.append(_indexed_block(engine))
    finish = _indexer(settings)
    assert finish.wait(120) == 0, finish.stderr.read().decode() if finish.stderr else ""
    assert _indexed_block(engine) == head
    assert any(board.deployment.block_number <= p < head for p in positions), f"no kill mid-backfill: {positions}"
    killed = dump_index(engine)
    engine.dispose()

    if settings.effective_database_url == POSTGRES_URL:
        _reset_postgres(POSTGRES_URL)
        clean_settings = settings
    else:
        clean_settings = replace(settings, database_url=f"sqlite:///{settings.data_dir / 'clean.sqlite3'}")
    clean = _indexer(clean_settings)  # in ranges as large as the node allows: the index must not depend on them
    assert clean.wait(120) == 0
    clean_engine = make_engine(clean_settings.effective_database_url)
    assert killed == dump_index(clean_engine)
    assert len(killed["posts"]) == 40 and len(killed["vote_events"]) == 80
    clean_engine.dispose()
