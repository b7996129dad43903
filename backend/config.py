"""One Settings object, read from ``INDELIBLE_*`` environment variables.

Every setting has a safe local default, so that a fresh clone runs with none
set. docs/configuration.md lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from backend.clients import Network, parse_proxies

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Hardhat's and anvil's well-known development mnemonic: these keys hold only
# worthless ether on local chains and must never guard anything real.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
# what the indexer may index up to: the head less INDELIBLE_CONFIRMATIONS, or a block tag of the node
FINALITY_RULES = ("confirmations", "safe", "finalized")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"INDELIBLE_{name}", default)


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


_SWITCH = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _switch(name: str, default: str) -> bool:
    """An on/off setting; anything else stops startup with the variable's name, not a silent default."""
    value = _env(name, default).strip().lower()
    if value not in _SWITCH:
        raise ValueError(f"INDELIBLE_{name} must be on or off, not {value!r}")
    return _SWITCH[value]


def public_url(url: str) -> str:
    """``url`` fit to show anyone: scheme, host and port; user info, path and query become "…".

    Hosted nodes carry their API key in the path (``/v3/<key>``) or the query, and
    a password may sit in the user info: none of that belongs in an API answer.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    hidden = parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{netloc}" + ("/…" if hidden else "")


def redact_url(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` and each secret part of it replaced as public_url does."""
    parts = urlsplit(url)
    text = text.replace(url, public_url(url))
    secrets = [parts.path if parts.path.strip("/") else "", parts.query, parts.netloc.rpartition("@")[0]]
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


def node_unreachable(url: str, exc: BaseException) -> str:
    """The sentence for a node at ``url`` that did not answer, with the URL's secrets hidden."""
    return redact_url(f"node at {url} unreachable: {exc}", url)


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; build one with ``Settings()`` after setting the environment."""

    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "./data")).resolve())
    rpc_url: str = field(default_factory=lambda: _env("RPC_URL", "http://127.0.0.1:8545"))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "8000")))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    start_chain: bool = field(default_factory=lambda: _env("START_CHAIN", "auto") != "never")
    contract_address: str = field(default_factory=lambda: _env("CONTRACT_ADDRESS", ""))
    confirmations: int = field(default_factory=lambda: int(_env("CONFIRMATIONS", "0")))
    # what the indexer indexes up to: "confirmations" (head minus CONFIRMATIONS), "safe" or "finalized" (block tags)
    finality: str = field(default_factory=lambda: _env("FINALITY", "confirmations").strip().lower())
    collapse_score: int = field(default_factory=lambda: int(_env("COLLAPSE_SCORE", "-5")))
    thread_replies: int = field(default_factory=lambda: max(1, int(_env("THREAD_REPLIES", "50"))))
    upload_requests: int = field(default_factory=lambda: int(_env("UPLOAD_REQUESTS", "200")))  # per client an hour
    upload_bytes: int = field(default_factory=lambda: int(_env("UPLOAD_BYTES", str(8 * 1024 * 1024))))  # an hour
    pin_grace: float = field(default_factory=lambda: float(_env("PIN_GRACE", "86400")))  # seconds
    ipfs_gateways: list[str] = field(default_factory=lambda: _list(_env("IPFS_GATEWAYS", "")))
    ipfs_api_url: str = field(default_factory=lambda: _env("IPFS_API_URL", ""))
    dev_mnemonic: str = field(default_factory=lambda: _env("DEV_MNEMONIC", DEV_MNEMONIC))
    relayer_key: str = field(default_factory=lambda: _env("RELAYER_KEY", ""), repr=False)
    # database time one search may take (each statement: PostgreSQL's statement_timeout, SQLite's progress handler)
    search_ms: int = field(default_factory=lambda: max(1, int(_env("SEARCH_MS", "200"))))
    # `python -m backend deploy` signs with this key, or with the keystore file and its password (never the node's)
    deployer_key: str = field(default_factory=lambda: _env("DEPLOYER_KEY", ""), repr=False)
    deployer_keystore: str = field(default_factory=lambda: _env("DEPLOYER_KEYSTORE", ""))
    deployer_password: str = field(default_factory=lambda: _env("DEPLOYER_PASSWORD", ""), repr=False)
    relay_rate: float = field(default_factory=lambda: float(_env("RELAY_RATE", "30")))
    relay_burst: int = field(default_factory=lambda: int(_env("RELAY_BURST", "10")))
    # absolute links (Atom feeds) start here, never from a request's Host header: a stranger could poison caches
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", ""))
    # the JSON-RPC URL readers' browsers check pages against (announced on every page; the CSP allows it)
    public_rpc_url: str = field(default_factory=lambda: _env("PUBLIC_RPC_URL", ""))
    # off: `serve` runs no indexer thread, for several API processes beside one `python -m backend index`
    indexer: bool = field(default_factory=lambda: _switch("INDEXER", "on"))
    # The relayer's spending policy: gas is what the node estimates at send time.
    relay_signer_gas_per_day: int = field(default_factory=lambda: int(_env("RELAY_SIGNER_GAS_PER_DAY", "3000000")))
    relay_new_signers_per_hour: int = field(default_factory=lambda: int(_env("RELAY_NEW_SIGNERS_PER_HOUR", "5")))
    relay_gas_per_hour: int = field(default_factory=lambda: int(_env("RELAY_GAS_PER_HOUR", "30000000")))
    relay_max_fee_gwei: float = field(default_factory=lambda: float(_env("RELAY_MAX_FEE_GWEI", "50")))
    relay_max_body: int = field(default_factory=lambda: int(_env("RELAY_MAX_BODY", "65536")))
    # proxies whose X-Forwarded-For names the client (backend/clients.py); none: the TCP peer is the client
    trusted_proxies: tuple[Network, ...] = field(default_factory=lambda: parse_proxies(_env("TRUSTED_PROXIES", "")))
    dev_chain_id: int = 1337
    dev_accounts: int = 20
    gas_limit: int = 30_000_000

    def __post_init__(self) -> None:
        if self.finality not in FINALITY_RULES:
            raise ValueError(f"INDELIBLE_FINALITY must be one of {', '.join(FINALITY_RULES)}, not {self.finality!r}")
        host = f"[{self.host}]" if ":" in self.host else self.host
        object.__setattr__(self, "public_url", (self.public_url or f"http://{host}:{self.port}").rstrip("/"))

    @property
    def browser_rpc_url(self) -> str:
        """The RPC URL pages announce for checks: the public one, else the node's own unless it holds a secret."""
        if self.public_rpc_url:
            return self.public_rpc_url
        return self.rpc_url if public_url(self.rpc_url) == self.rpc_url.rstrip("/") else ""

    @property
    def chain_dir(self) -> Path:
        """Where a Ganache started by the app keeps its chain."""
        return self.data_dir / "chain"

    @property
    def content_dir(self) -> Path:
        """The local pin store: one file per CID."""
        return self.data_dir / "content"

    @property
    def deployments_path(self) -> Path:
        """The deployment record written by ``scripts/deploy.py``."""
        return self.data_dir / "deployments.json"

    @property
    def effective_database_url(self) -> str:
        """``INDELIBLE_DATABASE_URL``, or SQLite under the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'index.sqlite3'}"
