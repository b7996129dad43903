"""The indexer's process keeps its startup heap out of the garbage collector's generations."""

from __future__ import annotations

import gc
from pathlib import Path

from backend.indexer import runner
from backend.indexer.runner import Indexer
from tests.support.index import make_settings


def test_an_indexer_leaves_its_process_heap_frozen_out_of_the_collections(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9", f"sqlite:///{tmp_path / 'index.sqlite3'}")
    indexer = Indexer(settings)  # the first of this process freezes; later ones find it done
    try:
        assert runner._heap_frozen.is_set()
        assert gc.get_freeze_count() > 0
    finally:
        indexer.close()
        indexer.engine.dispose()
