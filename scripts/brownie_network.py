"""Register Indelible's local chains as brownie development networks.

Brownie keeps its networks in ``~/.brownie/network-config.yaml``. This adds or
updates two entries there, so that brownie attaches to the same Ganache that
the app uses (or launches one with the same settings when nothing listens):

* ``indelible``: the chain at ``INDELIBLE_RPC_URL`` (``make run``, deploys);
* ``indelible-test``: a throwaway chain on ``INDELIBLE_TEST_RPC_PORT`` used by
  the contract tests, launched and stopped by brownie itself.

Run it again whenever the URL changes; it is idempotent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backend.config import Settings  # noqa: E402

CONFIG_PATH = Path.home() / ".brownie" / "network-config.yaml"


def _network(network_id: str, host: str, port: int, settings: Settings) -> dict[str, Any]:
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


def main() -> None:
    settings = Settings()
    rpc = urlparse(settings.rpc_url)
    test_port = int(os.environ.get("INDELIBLE_TEST_RPC_PORT", "8555"))
    wanted = [
        _network("indelible", f"{rpc.scheme}://{rpc.hostname}", rpc.port or 8545, settings),
        _network("indelible-test", "http://127.0.0.1", test_port, settings),
    ]
    if not CONFIG_PATH.exists():
        # Brownie writes its default config on first import.
        import brownie._config  # noqa: F401
    config = yaml.safe_load(CONFIG_PATH.read_text())
    development = [n for n in config.get("development", []) if n["id"] not in {w["id"] for w in wanted}]
    config["development"] = development + wanted
    CONFIG_PATH.write_text(yaml.safe_dump(config, sort_keys=False))


if __name__ == "__main__":
    main()
