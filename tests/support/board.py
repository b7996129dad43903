"""The one Board handle the backend and browser tests use: deploy it, post and vote straight on the contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.deployments.records import Deployment
from backend.deployments.records import board as board_contract
from backend.devchain import DevNode
from backend.devchain import deploy_board as deploy_from_artifact


def connect(node: DevNode) -> Web3:
    """web3 on ``node`` with the first dev account as default sender."""
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    w3.eth.default_account = w3.eth.accounts[0]
    return w3


@dataclass
class BoardHandle:
    """A deployed Board: the web3 contract and its deployment record."""

    contract: Contract
    deployment: Deployment
    w3: Web3

    def sender(self, account: str | int | None) -> str:
        """An account address: given, or Ganache account number ``account``, or the first account."""
        if isinstance(account, str):
            return account
        return str(self.w3.eth.accounts[account or 0])

    def digest_of(self, post_id: int) -> bytes:
        """The digest stored for ``post_id`` (what a reply or vote must name); zero when there is no such post."""
        if not 0 < post_id <= self.contract.functions.postCount().call():
            return bytes(32)
        return bytes(self.contract.functions.getPost(post_id).call()[2])

    def post(self, digest: bytes | str, parent_id: int = 0, sender: str | int | None = None) -> int:
        """Post ``digest`` straight to the contract, naming the parent's current digest; returns the new id."""
        call = self.contract.functions.post(digest, parent_id, self.digest_of(parent_id))
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": self.sender(sender)}))
        return int(self.contract.events.PostCreated().process_receipt(receipt)[0]["args"]["postId"])

    def post_document(
        self,
        pins: PinStore,
        title: str | None,
        body: str,
        parent_id: int = 0,
        sender: str | int | None = None,
        topic: str | None = None,
    ) -> int:
        """Pin a content document in ``pins`` and post its digest, as an upload and then a client would."""
        data = encode_document(title, body, topic)
        pins.put(data)
        return self.post(sha256(data), parent_id, sender)

    def vote(self, post_id: int, direction: int, sender: str | int | None = None) -> None:
        """Vote straight on the contract, naming the post's current digest."""
        call = self.contract.functions.vote(post_id, self.digest_of(post_id), direction)
        self.w3.eth.wait_for_transaction_receipt(call.transact({"from": self.sender(sender)}))


def deploy_board(w3: Web3, data_dir: Path) -> BoardHandle:
    """Deploy Board from the brownie artifact and append its record to ``data_dir/deployments.json``."""
    deployment = deploy_from_artifact(w3, data_dir)
    return BoardHandle(board_contract(w3, deployment), deployment, w3)
