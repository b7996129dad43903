"""Deploy Board from the compiled artifact with plain web3, and record it (``records.make_record``).

``deploy_signed`` signs locally (eth-account) and sends the raw transaction with EIP-1559 fees read from the
node (``eth_feeHistory``, else ``eth_maxPriorityFeePerGas``): the node never holds the key, so a hosted provider
will do, and it never sees ``eth_sendTransaction`` or ``eth_accounts``. It waits for ``INDELIBLE_CONFIRMATIONS``
blocks on top of the deployment and records the receipt as the chain has it then. ``deploy_unlocked`` sends
from an account the node holds (a dev chain's, for tests and benchmarks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from backend.config import Settings
from backend.deployments.code import load_artifact
from backend.deployments.records import Deployment, DeploymentError, record_deployment, record_from_receipt

log = logging.getLogger(__name__)

DEV_ACCOUNT_PATH = "m/44'/60'/0'/0/0"  # the dev mnemonic's first account: Ganache's and Anvil's accounts[0]
FEE_BLOCKS = 10  # blocks of fee history to read
FEE_PERCENTILE = 50  # the median tip of those blocks
GAS_MARGIN = 1.2  # over the estimate: the estimate is exact on the state it ran on, the block may differ


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fees for one transaction, in wei."""

    max_fee: int
    max_priority_fee: int


class DeployError(DeploymentError):
    """The deployment could not be made: no key, not enough ether, a revert, or a timeout."""


def deployer_account(settings: Settings, chain_id: int) -> LocalAccount:
    """The key ``deploy`` signs with: ``INDELIBLE_DEPLOYER_KEY``, else the keystore, else (dev chain only) the dev
    mnemonic's first account; DeployError naming the settings when there is none."""
    if settings.deployer_key:
        try:
            account: LocalAccount = Account.from_key(settings.deployer_key)
        except (ValueError, TypeError) as exc:
            raise DeployError("INDELIBLE_DEPLOYER_KEY is not a private key (0x and 64 hex digits)") from exc
        return account
    if settings.deployer_keystore:
        path = Path(settings.deployer_keystore)
        try:
            key = Account.decrypt(path.read_text(), settings.deployer_password)
        except OSError as exc:
            raise DeployError(f"INDELIBLE_DEPLOYER_KEYSTORE {path} cannot be read: {exc.strerror}") from exc
        except ValueError as exc:  # a wrong password (MAC mismatch) or not a keystore
            raise DeployError(f"the keystore {path} does not open with INDELIBLE_DEPLOYER_PASSWORD: {exc}") from exc
        account = Account.from_key(key)
        return account
    if chain_id == settings.dev_chain_id:
        Account.enable_unaudited_hdwallet_features()  # eth-account's flag for BIP-39 mnemonics
        account = Account.from_mnemonic(settings.dev_mnemonic, account_path=DEV_ACCOUNT_PATH)
        return account
    raise DeployError(
        f"no deployer key for chain {chain_id}: set INDELIBLE_DEPLOYER_KEY, or INDELIBLE_DEPLOYER_KEYSTORE and "
        "INDELIBLE_DEPLOYER_PASSWORD (the key signs here; the node never holds it)"
    )


def eip1559_fees(w3: Web3) -> Fees:
    """Fees from the node's recent blocks: twice the next base fee plus the median tip of the last blocks."""
    history: Any = w3.provider.make_request("eth_feeHistory", [FEE_BLOCKS, "latest", [FEE_PERCENTILE]])  # type: ignore[arg-type]
    result = history.get("result") if isinstance(history, dict) else None
    if result and result.get("baseFeePerGas"):
        next_base = int(result["baseFeePerGas"][-1], 16)
        tips = [int(reward[0], 16) for reward in result.get("reward") or [] if reward]
        tip = sorted(tips)[len(tips) // 2] if tips else int(w3.eth.max_priority_fee)
    else:  # a node without fee history: its own suggestion for the tip, the pending block's base fee
        tip = int(w3.eth.max_priority_fee)
        next_base = int(w3.eth.get_block("pending").get("baseFeePerGas", 0))
    tip = max(tip, 1)
    return Fees(max_fee=2 * next_base + tip, max_priority_fee=tip)


def wait_confirmed(w3: Web3, tx_hash: bytes, confirmations: int, timeout: float) -> Any:
    """The receipt of ``tx_hash`` once ``confirmations`` blocks are on top of its block, as the chain has it then."""
    deadline = time.monotonic() + timeout
    while True:
        receipt: Any = None
        try:
            receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except Exception:  # not mined yet (web3 raises TransactionNotFound)
            receipt = None
        if receipt is not None and int(w3.eth.block_number) >= int(receipt["blockNumber"]) + confirmations:
            return receipt
        if time.monotonic() > deadline:
            state = "not mined" if receipt is None else f"mined in block {receipt['blockNumber']}, not yet confirmed"
            raise DeployError(f"the deployment {Web3.to_hex(tx_hash)} is {state} after {timeout:.0f} s")
        time.sleep(0.5)


def deploy_signed(
    w3: Web3, account: LocalAccount, path: Path, *, confirmations: int = 0, timeout: float = 600.0
) -> Deployment:
    """Deploy Board signed by ``account`` (raw EIP-1559 transaction), wait for confirmations, record it at ``path``."""
    artifact = load_artifact()
    chain_id = int(w3.eth.chain_id)
    sender = account.address
    data = artifact["bytecode"] if str(artifact["bytecode"]).startswith("0x") else "0x" + artifact["bytecode"]
    gas = int(int(w3.eth.estimate_gas({"from": sender, "data": data})) * GAS_MARGIN)
    fees = eip1559_fees(w3)
    balance = int(w3.eth.get_balance(sender))
    if balance < gas * fees.max_fee:
        raise DeployError(
            f"the deployer {sender} holds {balance} wei on chain {chain_id}; deploying may cost up to "
            f"{gas * fees.max_fee} wei ({gas} gas at {fees.max_fee} wei): fund it first"
        )
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": int(w3.eth.get_transaction_count(sender, "pending")),
        "gas": gas,
        "maxFeePerGas": fees.max_fee,
        "maxPriorityFeePerGas": fees.max_priority_fee,
        "value": 0,
        "data": data,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    log.info("deploying Board from %s in %s (%d gas, max fee %d wei)", sender, Web3.to_hex(tx_hash), gas, fees.max_fee)
    receipt = wait_confirmed(w3, bytes(tx_hash), confirmations, timeout)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise DeployError(f"the deployment {Web3.to_hex(tx_hash)} reverted in block {receipt['blockNumber']}")
    record = record_from_receipt(w3, receipt, artifact["abi"])
    record_deployment(path, record)
    return Deployment.from_record(record)


def deploy(w3: Web3, settings: Settings, confirmations: int | None = None) -> Deployment:
    """``python -m backend deploy``: deploy Board with the configured key and record it in the data dir.

    Waits for ``confirmations`` blocks on top (default ``INDELIBLE_CONFIRMATIONS``).
    """
    account = deployer_account(settings, int(w3.eth.chain_id))
    wait = settings.confirmations if confirmations is None else confirmations
    return deploy_signed(w3, account, settings.deployments_path, confirmations=wait)


def deploy_unlocked(w3: Web3, data_dir: Path, sender: str | None = None) -> Deployment:
    """Deploy Board from ``sender`` (an account the node unlocks; default its first) and record it in ``data_dir``."""
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor().transact({"from": sender or w3.eth.accounts[0]})
    record = record_from_receipt(w3, w3.eth.wait_for_transaction_receipt(tx_hash), artifact["abi"])
    record_deployment(data_dir / "deployments.json", record)
    return Deployment.from_record(record)
