"""The indexer: the only writer of the index.

The engine (``runner``: the loop, chain identity, reorgs, read-ahead; ``fetch``: logs and headers of a
range; ``checkpoint``: the checkpoint and recent block hashes; ``rpc``) is apart from Board's handling:
``decode`` (raw logs -> events) -> ``map`` (events -> rows) -> ``store`` (rows -> the index, with ``bulk``'s
raw-SQL fast paths). Missing content is resolved by ``content_sync``; ``status`` publishes what
``/api/status`` shows.
"""
