"""Connecting to a node: the web3 handle on ``INDELIBLE_RPC_URL``.

Which Board the node uses, and its records, live in ``backend/deployments/``.
"""

from __future__ import annotations

from web3 import Web3

from backend.config import Settings
from backend.provider import NodeProvider


def connect(settings: Settings, timeout: float = 30.0) -> Web3:
    """A web3 handle on ``INDELIBLE_RPC_URL``, retrying and batching as the provider allows (backend.provider)."""
    return Web3(NodeProvider(settings.rpc_url, timeout))
