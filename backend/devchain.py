"""Start and stop a local chain (Ganache, or Anvil) for development and tests.

The app starts a Ganache when nothing answers at ``INDELIBLE_RPC_URL`` and the URL
points at this machine; tests start throwaway ones of either kind on free ports.
Both take the same arguments and deal the same dev accounts (the ``test ... junk`` mnemonic).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self
from urllib.parse import urlparse

import httpx
from web3 import Web3

from backend.config import DEV_MNEMONIC, PROJECT_ROOT
from backend.deployments.deploy import deploy_unlocked
from backend.deployments.records import Deployment

log = logging.getLogger(__name__)

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def node_executable(name: str) -> str:
    """The project's pinned ``name`` (ganache, anvil) from node_modules, else one on PATH."""
    local = PROJECT_ROOT / "node_modules" / ".bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: run `make setup` (npm ci) first")
    return found


def ganache_executable() -> str:
    """The project's pinned Ganache from node_modules, else one on PATH."""
    return node_executable("ganache")


def rpc_answers(url: str, timeout: float = 2.0) -> bool:
    """True when a JSON-RPC node answers ``eth_chainId`` at ``url``."""
    try:
        response = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout
        )
        return response.status_code == 200 and "result" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def is_local_url(url: str) -> bool:
    """True when ``url`` points at this machine, where the app may start a chain."""
    return (urlparse(url).hostname or "") in LOCAL_HOSTS


def free_port() -> int:
    """A TCP port nothing listens on right now (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevNode:
    """A local chain process on ``port``: started, awaited until it answers JSON-RPC, stopped with its group."""

    name = "chain"

    def __init__(self, port: int, args: list[str], db_path: Path | None, log_path: Path | None) -> None:
        self.port = port
        self.db_path = db_path
        self.url = f"http://127.0.0.1:{port}"
        self._args = args
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Self:
        """Launch the process and wait until it answers JSON-RPC; a node already running is left as it is.

        So ``with node.start():`` starts one process, not a second one orphaned on the same port.
        """
        if self.process is not None and self.process.poll() is None:
            return self
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            out: BinaryIO | int = self._log_path.open("ab")
        else:
            out = subprocess.DEVNULL
        # Its own session: Ctrl-C reaches the app, which then stops the chain cleanly.
        self.process = subprocess.Popen(
            self._args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}; see {self._log_path}")
            if rpc_answers(self.url, timeout=1.0):
                log.info("%s answers at %s (pid %s)", self.name, self.url, self.process.pid)
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer at {self.url} within {timeout:.0f} s")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the chain flushes its state), then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Ganache(DevNode):
    """A Ganache process: deterministic accounts, chain id 1337, shanghai rules."""

    name = "Ganache"

    def __init__(
        self,
        port: int,
        db_path: Path | None = None,
        *,
        mnemonic: str = DEV_MNEMONIC,
        chain_id: int = 1337,
        accounts: int = 20,
        gas_limit: int = 30_000_000,
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        args = [
            ganache_executable(),
            "--server.host", "127.0.0.1",
            "--server.port", str(port),
            "--chain.chainId", str(chain_id),
            "--chain.networkId", str(chain_id),
            "--hardfork", "shanghai",
            "--wallet.mnemonic", mnemonic,
            "--wallet.totalAccounts", str(accounts),
            "--wallet.defaultBalance", "10000",
            "--miner.blockGasLimit", str(gas_limit),
            # brownie reads revert reasons from the RPC error
            "--chain.vmErrorsOnRPCResponse", "true",
            *(extra_args or []),
        ]  # fmt: skip
        if db_path is not None:
            args += ["--database.dbPath", str(db_path)]
        super().__init__(port, args, db_path, log_path)


class Anvil(DevNode):
    """An Anvil process (Foundry's dev chain, npm ``@foundry-rs/anvil-linux-amd64``): Ganache's interface.

    Its extras are real reorganisations (``anvil_reorg``: blocks replaced, new hashes), interval
    mining and base-fee control; ``safe`` and ``finalized`` are 32 and 64 blocks below the head.
    """

    name = "Anvil"

    def __init__(
        self,
        port: int,
        db_path: Path | None = None,
        *,
        mnemonic: str = DEV_MNEMONIC,
        chain_id: int = 31337,
        accounts: int = 20,
        gas_limit: int = 30_000_000,
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        args = [
            node_executable("anvil"),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(chain_id),
            "--mnemonic", mnemonic,
            "--accounts", str(accounts),
            "--balance", "10000",
            "--gas-limit", str(gas_limit),
            "--silent",
            *(extra_args or []),
        ]  # fmt: skip
        if db_path is not None:  # the state is written on exit and loaded at start
            args += ["--state", str(db_path / "anvil-state.json")]
        super().__init__(port, args, db_path, log_path)


def deploy_board(w3: Web3, data_dir: Path, sender: str | None = None) -> Deployment:
    """Deploy Board from the compiled artifact from an unlocked dev account and record it in ``data_dir``.

    For tests and benchmarks on throwaway chains; ``python -m backend deploy`` signs with a key.
    """
    return deploy_unlocked(w3, data_dir, sender)
