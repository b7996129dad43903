"""`python -m backend run` (what `make run` calls) on a real Ganache.

Cold start deploys, Ctrl-C (or SIGTERM, as a service manager sends) leaves no
process behind, a warm start finds the same chain and contract, and a second
instance runs beside the first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from web3 import Web3

from backend.config import PROJECT_ROOT
from backend.devchain import Ganache, free_port, rpc_answers


def _start(data_dir: Path, port: int, rpc_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INDELIBLE_DATA_DIR": str(data_dir),
        "INDELIBLE_PORT": str(port),
        "INDELIBLE_RPC_URL": f"http://127.0.0.1:{rpc_port}",
    }
    env.pop("INDELIBLE_DATABASE_URL", None)
    log = (data_dir.parent / f"run-{port}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "backend", "run"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _wait_status(proc: subprocess.Popen[bytes], port: int, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"`python -m backend run` exited with code {proc.returncode}"
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
            body = response.json()
            if response.status_code == 200 and body.get("contract_address"):
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"no status with a contract on port {port} within {timeout} s")


def _descendants(pid: int) -> list[psutil.Process]:
    # a process may exit while psutil walks /proc (NoSuchProcess, or FileNotFoundError on its stat file)
    for _ in range(20):
        try:
            return psutil.Process(pid).children(recursive=True)
        except (psutil.Error, FileNotFoundError):
            time.sleep(0.1)
    raise AssertionError(f"could not list the children of {pid}")


def _interrupt(proc: subprocess.Popen[bytes], signum: int = signal.SIGINT) -> list[psutil.Process]:
    children = _descendants(proc.pid)
    proc.send_signal(signum)
    proc.wait(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=30)
    return alive


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port()


def test_run_deploys_serves_and_stops_cleanly_then_restarts_on_same_chain(tmp_path: Path, ports: tuple[int, int]):
    port, rpc_port = ports
    data_dir = tmp_path / "data"

    proc = _start(data_dir, port, rpc_port)
    try:
        first = _wait_status(proc, port)
    finally:
        leftovers = _interrupt(proc)
    assert first["chain_id"] == 1337
    assert first["head_block"] >= 1
    assert leftovers == [], f"processes left running after Ctrl-C: {leftovers}"
    assert not rpc_answers(f"http://127.0.0.1:{rpc_port}")
    assert (data_dir / "deployments.json").exists()

    proc = _start(data_dir, port, rpc_port)
    try:
        second = _wait_status(proc, port, timeout=60)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        leftovers = _interrupt(proc)
    assert second["contract_address"] == first["contract_address"]
    assert second["head_block"] >= first["head_block"]
    assert page.status_code == 200 and "Indelible" in page.text
    assert leftovers == []


def test_two_instances_with_their_own_data_dirs_and_ports_run_side_by_side(tmp_path: Path):
    instances = []
    for name in ("a", "b"):
        port, rpc_port = free_port(), free_port()
        instances.append((port, _start(tmp_path / name, port, rpc_port)))
    try:
        statuses = [_wait_status(proc, port) for port, proc in instances]
    finally:  # the second one as a service manager stops it: uvicorn re-raises SIGTERM after its shutdown
        signals = (signal.SIGINT, signal.SIGTERM)
        leftovers = [p for (_, proc), signum in zip(instances, signals, strict=True) for p in _interrupt(proc, signum)]
    assert {s["chain_id"] for s in statuses} == {1337}
    assert statuses[0]["rpc_url"] != statuses[1]["rpc_url"]
    assert leftovers == []


def test_run_on_another_chain_with_no_record_and_no_address_names_deploy_and_join_and_exits(tmp_path: Path):
    data_dir = tmp_path / "data"
    with Ganache(free_port(), chain_id=4242) as node:
        port = free_port()
        env = {**os.environ, "INDELIBLE_DATA_DIR": str(data_dir), "INDELIBLE_PORT": str(port)}
        env.update(INDELIBLE_RPC_URL=node.url, INDELIBLE_START_CHAIN="never")
        for name in ("INDELIBLE_DATABASE_URL", "INDELIBLE_CONTRACT_ADDRESS", "INDELIBLE_DEPLOYER_KEY"):
            env.pop(name, None)
        head = Web3(Web3.HTTPProvider(node.url)).eth.block_number
        done = subprocess.run(
            [sys.executable, "-m", "backend", "run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert Web3(Web3.HTTPProvider(node.url)).eth.block_number == head  # nothing was deployed
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    (sentence,) = [line for line in done.stderr.splitlines() if line.startswith("not started:")]
    assert sentence == (
        f"not started: no Board is recorded for chain 4242 in {data_dir / 'deployments.json'} and "
        "INDELIBLE_CONTRACT_ADDRESS is not set: deploy one with `python -m backend deploy` "
        "(INDELIBLE_DEPLOYER_KEY signs it) or join one with `python -m backend join 0xADDRESS`"
    )
    assert not httpx_answers(port)


def httpx_answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_a_started_chain_entered_as_a_context_is_one_process_and_stops_with_it():
    node = Ganache(free_port())
    with node.start() as entered:  # start() then __enter__: the second call must not launch a second Ganache
        assert entered is node
        assert node.process is not None
        pid = node.process.pid
        group = [p.pid for p in psutil.Process(pid).children(recursive=True)] + [pid]
        listening = {c.pid for c in psutil.net_connections("tcp") if c.laddr.port == node.port and c.status == "LISTEN"}
        assert listening <= set(group), f"another process listens on {node.port}: {listening - set(group)}"
        assert Web3(Web3.HTTPProvider(node.url)).eth.chain_id == 1337
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not rpc_answers(node.url, timeout=1.0)
