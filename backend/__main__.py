"""Command line: ``python -m backend run|serve|deploy|index``.

* ``run``: what ``make run`` does. Start Ganache when nothing answers at
  ``INDELIBLE_RPC_URL`` (a local URL only), deploy the contracts when this
  chain has no deployment yet, then serve until Ctrl-C and stop what it started.
* ``serve [--workers N]``: the web app and API only, against whatever node is
  configured; with ``INDELIBLE_INDEXER=off`` it runs no indexer, and then N
  worker processes may share the port (run ``index`` once beside them).
* ``deploy``: deploy Board to the configured node, signed here (``INDELIBLE_DEPLOYER_KEY`` or a keystore; the
  dev mnemonic's first account on the dev chain), and record it.
* ``join 0xADDRESS``: check that the code at the address is our Board, find its deployment block, record it.
* ``index``: run the indexer alone (``--once``: stop when caught up with the head).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any
from urllib.parse import urlparse

import uvicorn

from backend import chain
from backend.config import Settings, node_unreachable
from backend.deployments import deploy as deploying
from backend.deployments import join as joining
from backend.deployments.records import BOARD_VERSION, Deployment, DeploymentError
from backend.deployments.resolve import find_deployment
from backend.devchain import Ganache, is_local_url, rpc_answers

log = logging.getLogger("indelible")


def deploy(settings: Settings) -> int:
    """Deploy Board to the configured node, signed here with the deployer key, and record it."""
    try:
        w3 = chain.connect(settings)
        deployment = deploying.deploy(w3, settings)
    except DeploymentError as exc:
        print(f"not deployed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the node is down or not a JSON-RPC node
        print(f"not deployed: {node_unreachable(settings.rpc_url, exc)}", file=sys.stderr)
        return 1
    print(
        f"Board version {BOARD_VERSION} deployed at {deployment.address} in block {deployment.block_number}"
        f" on chain {deployment.chain_id}\nRecorded in {settings.deployments_path}"
    )
    return 0


def ensure_deployment(settings: Settings) -> Deployment:
    """The deployment for this chain, deploying first on a fresh dev chain.

    Off the dev chain, with no record and no ``INDELIBLE_CONTRACT_ADDRESS``, it deploys nothing: NoBoard.
    """
    w3 = chain.connect(settings)
    try:
        return find_deployment(w3, settings)
    except DeploymentError as exc:
        if settings.contract_address:
            raise
        chain_id = int(w3.eth.chain_id)
        if chain_id != settings.dev_chain_id:
            raise NoBoard(
                f"no Board is recorded for chain {chain_id} in {settings.deployments_path} and "
                "INDELIBLE_CONTRACT_ADDRESS is not set: deploy one with `python -m backend deploy` "
                "(INDELIBLE_DEPLOYER_KEY signs it) or join one with `python -m backend join 0xADDRESS`"
            ) from exc
        log.info("%s: deploying", exc)
    return deploying.deploy(w3, settings, confirmations=0)  # Ganache mines only on transactions: none would come


class NoBoard(DeploymentError):
    """Nothing recorded on this chain and no address given: ``run`` says what to do instead of deploying."""


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM ends ``run`` through its ``finally``, as Ctrl-C does.

    uvicorn shuts down on SIGTERM and then raises the signal again; with the default action the
    process would die there and leave the Ganache it started running.
    """
    raise SystemExit(128 + signum)


def run(settings: Settings) -> int:
    """Start what is missing, then serve in the foreground until Ctrl-C or SIGTERM."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ganache: Ganache | None = None
    try:
        if not rpc_answers(settings.rpc_url):
            if not (settings.start_chain and is_local_url(settings.rpc_url)):
                log.error("nothing answers at %s and it is not ours to start", settings.rpc_url)
                return 1
            port = urlparse(settings.rpc_url).port or 8545
            log.info("starting Ganache on port %s, chain data in %s", port, settings.chain_dir)
            ganache = Ganache(
                port, settings.chain_dir, mnemonic=settings.dev_mnemonic, log_path=settings.data_dir / "ganache.log"
            ).start()
        else:
            log.info("using the node at %s", settings.rpc_url)
        try:
            deployment = ensure_deployment(settings)
        except DeploymentError as exc:  # one sentence, no traceback: what is missing and the command that fixes it
            print(f"not started: {exc}", file=sys.stderr)
            return 1
        base = f"http://{settings.host}:{settings.port}"
        print(
            f"\nIndelible is up: chain {deployment.chain_id}, Board at {deployment.address}\n"
            f"  web UI   {base}/\n  API      {base}/api/status\n  API docs {base}/docs\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        return serve(settings)
    except KeyboardInterrupt:
        return 130
    finally:
        if ganache is not None:
            log.info("stopping Ganache")
            ganache.stop()


def serve(settings: Settings, workers: int = 1) -> int:
    """Serve the app with uvicorn in ``workers`` processes (blocks until SIGINT/SIGTERM).

    uvicorn's ``proxy_headers`` stays off: it would trust ``X-Forwarded-For`` from loopback and rewrite the
    peer before the app sees it; ``backend.clients`` finds the client (``INDELIBLE_TRUSTED_PROXIES``).
    """
    if workers < 1:
        log.error("--workers must be at least 1, not %d", workers)
        return 2
    if workers > 1 and settings.indexer:
        # every worker would run an indexer: N writers racing over one index and its checkpoint
        log.error("--workers %d needs INDELIBLE_INDEXER=off, with one `python -m backend index` beside it", workers)
        return 2
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        log.warning("%d workers on SQLite: one writer at a time; PostgreSQL suits several processes", workers)
    if workers == 1:
        from backend.app import create_app, freeze_startup_heap

        app = create_app(settings)
        freeze_startup_heap()
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False)
        return 0
    # each worker process builds its own app from the same environment
    uvicorn.run(
        "backend.app:serving_app", factory=True, workers=workers, host=settings.host, port=settings.port,
        log_level="info", proxy_headers=False,
    )  # fmt: skip
    return 0


def index(settings: Settings, *, once: bool, max_span: int) -> int:
    """Run the indexer in the foreground until Ctrl-C (or the head, with ``once``)."""
    from backend.indexer.runner import Indexer

    indexer = Indexer(settings, max_span=max_span)
    try:
        indexer.run(once=once)
    except KeyboardInterrupt:
        return 130
    finally:
        indexer.close()
    return 0 if indexer.health.error is None else 1


def join(settings: Settings, address: str) -> int:
    """Join the Board at ``address`` on the configured node: print what was found and record it."""
    try:
        w3 = chain.connect(settings)
        record, new = joining.join(w3, settings, address)
    except DeploymentError as exc:
        print(f"not joined: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the node is down or not a JSON-RPC node
        print(f"not joined: {node_unreachable(settings.rpc_url, exc)}", file=sys.stderr)
        return 1
    print(
        f"Board version {record['board_version']} at {record['address']} on chain {record['chain_id']}\n"
        f"  deployed in block {record['block_number']} ({record['block_hash']})"
        f", transaction {record['tx_hash'] or 'unknown (created by another contract)'}\n"
        + _code_words(record.get("code_check", {}))
        + (f"Recorded in {settings.deployments_path}" if new else f"Already recorded in {settings.deployments_path}")
    )
    return 0


def _code_words(check: dict[str, Any]) -> str:
    """The line ``join`` prints about the code it checked (none for a Board this node deployed)."""
    if not check:
        return "  deployed by this node\n"
    checked = check.get("immutables_checked")
    each = f"each as this address and chain need it ({', '.join(checked)}), " if checked else ""
    return (
        f"  code: Board's compiled code with {check.get('immutables_masked')} immutables masked, {each}"
        f"metadata {check.get('metadata')}, keccak {check.get('code_hash')}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start chain if needed, deploy if needed, serve (make run)")
    serve_parser = sub.add_parser("serve", help="serve the web UI and API")
    serve_parser.add_argument(
        "--workers", type=int, default=1, help="API processes on one port (more than 1 needs INDELIBLE_INDEXER=off)"
    )
    sub.add_parser(
        "deploy", help="deploy Board to the configured node, signed with INDELIBLE_DEPLOYER_KEY, and record it"
    )
    join_parser = sub.add_parser("join", help="check the Board at an address and record it (no deploy)")
    join_parser.add_argument("address", help="the Board's address, 0x and 40 hex digits")
    index_parser = sub.add_parser(
        "index", help="run the indexer alone (serve runs one inside unless INDELIBLE_INDEXER=off)"
    )
    index_parser.add_argument("--once", action="store_true", help="stop when the index reaches the head")
    index_parser.add_argument("--max-range", type=int, default=5000, help="most blocks per eth_getLogs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per RPC call drowns everything else
    try:
        settings = Settings()
    except ValueError as exc:  # a malformed INDELIBLE_* value: say which, no traceback
        log.error("%s", exc)
        return 2
    if args.command == "run":
        return run(settings)
    if args.command == "serve":
        return serve(settings, args.workers)
    if args.command == "index":
        return index(settings, once=args.once, max_span=args.max_range)
    if args.command == "join":
        return join(settings, args.address)
    return deploy(settings)


if __name__ == "__main__":
    sys.exit(main())
