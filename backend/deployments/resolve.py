"""Which Board this node uses: the recorded deployment on the node's chain, else the joined address.

The newest record whose chain (id and genesis block) is the node's and whose code is really there wins, unless
``INDELIBLE_CONTRACT_ADDRESS`` names one. An address no record on this chain names is joined (``join.join``:
its code is checked, its deployment block found, and it is recorded, marked ``joined``). A record of an older
Board version (told from its ABI) is refused with a message saying to deploy again: its signed messages and
calls differ, so the node never mixes it with the current one.
"""

from __future__ import annotations

from web3 import Web3

from backend.config import Settings
from backend.deployments.join import join
from backend.deployments.records import (
    BOARD_VERSION,
    Deployment,
    DeploymentError,
    board_version,
    genesis_hash,
    load_records,
)


def find_deployment(w3: Web3, settings: Settings) -> Deployment:
    """The newest recorded deployment that lives on the node's chain, else the Board joined at the configured address.

    Raises DeploymentError saying why when none does (another chain, a Ganache restarted without its data, or
    nothing deployed yet); JoinError when the configured address holds no Board of ours.
    """
    chain_id = w3.eth.chain_id
    genesis = genesis_hash(w3)
    records = load_records(settings.deployments_path)
    wanted = settings.contract_address.lower()
    candidates = [
        r
        for r in reversed(records)
        if int(r["chain_id"]) == chain_id and (not wanted or r["address"].lower() == wanted)
    ]
    if not candidates and wanted:
        return _join(w3, settings)
    if not candidates:
        raise DeploymentError(
            f"no deployment recorded for chain {chain_id} in {settings.deployments_path}"
            + (f" at {settings.contract_address}" if wanted else "")
        )
    for record in candidates:
        deployment = Deployment.from_record(record)
        if deployment.genesis_hash and deployment.genesis_hash != genesis:
            continue
        if w3.eth.get_code(Web3.to_checksum_address(deployment.address)) in (b"", b"\x00"):
            continue
        version = board_version(deployment.abi)
        if version != BOARD_VERSION:
            raise DeploymentError(
                f"the Board recorded at {deployment.address} on chain {chain_id} is version {version}, which names "
                f"reply and vote targets by id only; this node needs version {BOARD_VERSION}: deploy a new Board "
                "(python -m backend deploy; make run does it on a dev chain) or use a fresh data dir and chain"
            )
        return deployment
    if wanted:
        return _join(w3, settings)
    raise DeploymentError(
        f"the recorded deployments for chain {chain_id} are not on this node's chain "
        f"(genesis {genesis}): the chain was replaced; deploy again"
    )


def _join(w3: Web3, settings: Settings) -> Deployment:
    """Join the Board at ``INDELIBLE_CONTRACT_ADDRESS``, which no record on this chain names (else JoinError)."""
    record, _ = join(w3, settings, settings.contract_address)
    return Deployment.from_record(record)
