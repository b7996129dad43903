"""Register Indelible's local chains as brownie development networks.

Brownie keeps its networks in ``~/.brownie/network-config.yaml``. This adds or
updates development networks there, so that brownie attaches to the same
Ganache the app uses (or launches one with the same settings when nothing
listens):

* ``indelible`` (``indelible-<port>`` for a port other than 8545): the chain at
  ``INDELIBLE_RPC_URL``, used by ``make run`` to deploy;
* ``indelible-test``: a throwaway chain on ``INDELIBLE_TEST_RPC_PORT`` (8555)
  for the contract tests, launched and stopped by brownie itself.

It prints the id of the first. Run it again whenever the URL changes; it is
idempotent.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backend.config import Settings

CONFIG_PATH = Path.home() / ".brownie" / "network-config.yaml"


def network_id_for(rpc_url: str) -> str:
    """The brownie network id that stands for the chain at ``rpc_url``."""
    port = urlparse(rpc_url).port or 8545
    return "indelible" if port == 8545 else f"indelible-{port}"


def _network(network_id: str, host: str, port: int, settings: Settings) -> dict[str, Any]:
    # No mnemonic here: given one, brownie signs locally instead of using the
    # node's unlocked accounts; our Ganache derives the same accounts anyway.
    return {
        "name": f"Indelible ({network_id})",
        "id": network_id,
        "cmd": "ganache-cli",
        "host": host,
        "cmd_settings": {
            "port": port,
            "gas_limit": settings.gas_limit,
            "accounts": settings.dev_accounts,
            "evm_version": "shanghai",
            "chain_id": settings.dev_chain_id,
            "network_id": settings.dev_chain_id,
        },
    }


def ensure_networks(settings: Settings) -> str:
    """Write the networks into brownie's config; return the app chain's id."""
    rpc = urlparse(settings.rpc_url)
    app_id = network_id_for(settings.rpc_url)
    test_port = int(os.environ.get("INDELIBLE_TEST_RPC_PORT", "8555"))
    wanted = [
        _network(app_id, f"{rpc.scheme}://{rpc.hostname}", rpc.port or 8545, settings),
        _network("indelible-test", "http://127.0.0.1", test_port, settings),
    ]
    if not CONFIG_PATH.exists():
        import brownie._config  # noqa: F401  (writes brownie's default config)
    # read-modify-write under a lock: two instances starting together must not drop each other's network
    with (CONFIG_PATH.parent / ".indelible-networks.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config = yaml.safe_load(CONFIG_PATH.read_text())
        ids = {w["id"] for w in wanted}
        config["development"] = [n for n in config.get("development", []) if n["id"] not in ids] + wanted
        tmp = CONFIG_PATH.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        os.replace(tmp, CONFIG_PATH)
    return app_id


if __name__ == "__main__":
    print(ensure_networks(Settings()))
