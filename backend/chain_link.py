"""What the web process knows from the node: the Board deployment, the relayer, the relayer's balance.

Looked up in the lifespan, then kept fresh by one background thread (``watch``):
the deployment until one is found, the relayer's balance every
``BALANCE_SECONDS``. Read routes only read these fields; the node is asked on
that thread, never on the request path (the relay's POST and the signer's
nonce go through the relayer, which is its job).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from eth_account import Account
from web3 import Web3

from backend.config import Settings, node_unreachable
from backend.content.service import ContentService
from backend.deployments.records import Deployment, DeploymentError, board
from backend.deployments.resolve import find_deployment
from backend.limits import Limits
from backend.relay.budget import Policy
from backend.relay.errors import RELAYER_KEY_ENV, RelayError
from backend.relay.relayer import Relayer

log = logging.getLogger(__name__)

BALANCE_SECONDS = 5.0  # how stale the relayer's balance on /api/status and the key page may be


@dataclass(frozen=True)
class RelayerAccount:
    """The relayer's address, chain and balance as last read; ``error`` says why a field is unknown."""

    address: str | None = None
    chain_id: int | None = None
    balance_wei: int | None = None
    error: str | None = None


class ChainLinkUnavailable(Exception):
    """No deployment or no relayer is known (yet); ``detail`` says why. The app answers it 503 (``backend.app``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ChainLink:
    """The deployment this process follows and the relayer that sends to it, refreshed off the request path."""

    def __init__(self, settings: Settings, w3: Web3, content: ContentService, limits: Limits) -> None:
        self.settings = settings
        self.w3 = w3
        self._content = content
        self._limits = limits
        self.deployment: Deployment | None = None
        self.deployment_error: str | None = None
        self.relayer: Relayer | None = None
        self.relayer_error: str | None = None
        self.account = RelayerAccount()

    def require_deployment(self) -> Deployment:
        """The deployment this process follows; ``ChainLinkUnavailable`` saying why when none is known (yet)."""
        if self.deployment is None:
            raise ChainLinkUnavailable(f"no Board deployment available: {self.deployment_error}")
        return self.deployment

    def require_relayer(self) -> Relayer:
        """The relayer of that deployment; ``ChainLinkUnavailable`` saying why when there is none."""
        self.require_deployment()
        if self.relayer is None:
            detail = self.relayer_error or node_unreachable(self.settings.rpc_url, RuntimeError("no answer"))
            raise ChainLinkUnavailable(detail)
        return self.relayer

    def refresh(self) -> None:
        """Find the deployment (while none is known), build the relayer, read its balance (blocking I/O)."""
        if self.deployment is None:
            self._find_deployment()
        if self.deployment is not None and self.relayer is None:
            self._build_relayer(self.deployment)
        self._read_account()
        if self.relayer is not None:
            self._relayer_upkeep(self.relayer)

    def _relayer_upkeep(self, relayer: Relayer) -> None:
        """Settle the relayer's mined sends; send again those stuck under the base fee or dropped (off requests)."""
        try:
            resent = relayer.upkeep()
        except Exception as exc:  # the node or the database is down: the next refresh tries again
            log.warning("relayer upkeep failed: %s", node_unreachable(self.settings.rpc_url, exc))
            return
        if resent:
            log.info("relayer sent again (stuck or dropped): %s", ", ".join(resent))

    def watch(self, stop: threading.Event) -> None:
        """Refresh every ``BALANCE_SECONDS`` until ``stop`` is set (the lifespan's thread)."""
        while not stop.wait(BALANCE_SECONDS):
            try:
                self.refresh()
            except Exception:  # a bug here must not end the thread: the status page would freeze
                log.exception("refreshing the node's view failed")

    def _find_deployment(self) -> None:
        try:
            self.deployment = find_deployment(self.w3, self.settings)
            self.deployment_error = None
        except DeploymentError as exc:
            self.deployment_error = str(exc)
        except Exception as exc:  # the node is down or not a JSON-RPC node
            self.deployment_error = node_unreachable(self.settings.rpc_url, exc)

    def _build_relayer(self, deployment: Deployment) -> None:
        try:
            self.relayer = Relayer(
                self.w3,
                board(self.w3, deployment),
                self._content.store,
                self._limits,
                Policy.from_settings(self.settings),
                key=self.settings.relayer_key or None,
            )
            self.relayer_error = None
        except Exception as exc:  # the node stopped answering since the deployment was found
            self.relayer_error = node_unreachable(self.settings.rpc_url, exc)

    def _read_account(self) -> None:
        known = self.account
        try:  # the address and chain do not change under a running app: only the balance is read again
            address = known.address or self._relayer_address()
            deployment = self.deployment
            chain_id = known.chain_id or (deployment.chain_id if deployment else int(self.w3.eth.chain_id))
            balance = int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))
            self.account = RelayerAccount(address, chain_id, balance)
        except RelayError as exc:
            self.account = RelayerAccount(error=exc.detail)
        except Exception as exc:  # the node is down: the status page still answers
            self.account = RelayerAccount(error=node_unreachable(self.settings.rpc_url, exc))

    def _relayer_address(self) -> str:
        if self.relayer is not None:
            return str(self.relayer.sender)
        if self.settings.relayer_key:
            return str(Account.from_key(self.settings.relayer_key).address)
        accounts = self.w3.eth.accounts
        if len(accounts) < 2:
            raise RelayError(f"no relayer account: set {RELAYER_KEY_ENV}", status_code=503)
        return str(accounts[1])
