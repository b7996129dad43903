"""The indexer: the only writer of the index.

fetch logs (``fetch``) -> decode (``decode``) -> map to rows and store them with
the checkpoint in one transaction (``store``); reorganisations are found and
rolled back in ``runner``; missing content is resolved by ``content_sync``.
"""
