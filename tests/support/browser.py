"""The browser suite's helpers: the running stack, watched pages, an injected test wallet, the status recorder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page
from web3 import Web3
from web3.contract import Contract

from backend.config import PROJECT_ROOT
from backend.devchain import Anvil, Ganache, free_port
from tests.support.board import BoardHandle, deploy_board
from tests.support.servers import wait_app_ready
from tests.support.wait import wait_for

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
ARTIFACT = PROJECT_ROOT / "build" / "contracts" / "Board.json"
VENDOR = PROJECT_ROOT / "backend" / "static" / "vendor"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# a low threshold, so that a few Ganache accounts can fold a post
COLLAPSE_SCORE = -3


@dataclass
class Stack:
    """The running app and chain."""

    url: str
    w3: Web3
    handle: BoardHandle
    data_dir: Path
    ganache_url: str
    log_path: Path

    @property
    def board(self) -> Contract:
        """The web3 contract, for calls the tests make themselves."""
        return self.handle.contract

    def api(self, path: str, **params: Any) -> Any:
        """GET a JSON document from the app."""
        response = httpx.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def pin(self, document: dict[str, str]) -> str:
        """Pin a content document through the API; returns its digest."""
        data = json.dumps(document).encode()
        response = httpx.post(
            self.url + "/api/content", content=data, headers={"Content-Type": "application/json"}, timeout=10
        )
        response.raise_for_status()
        return str(response.json()["digest"])

    def post(self, document: dict[str, str], parent_id: int = 0, account: int = 0) -> int:
        """Pin ``document`` and post it straight to the contract from Ganache account ``account``."""
        return self.post_digest(self.pin(document), parent_id, account)

    def digest_of(self, post_id: int) -> bytes:
        """The digest stored for ``post_id`` (what a reply or vote names), zero for id 0."""
        return self.handle.digest_of(post_id)

    def post_digest(self, digest: str, parent_id: int = 0, account: int = 0) -> int:
        """Post a digest from a Ganache account, naming the parent's digest; returns the post id."""
        return self.handle.post(digest, parent_id, account)

    def vote(self, post_id: int, direction: int, account: int) -> None:
        """Vote from a Ganache account."""
        self.handle.vote(post_id, direction, account)

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """Poll ``check`` until it returns something truthy (an HTTP error status counts as not yet)."""
        return wait_for(check, timeout, 0.2, what=f"{what}; app log: {self.log_path}", ignore=(httpx.HTTPStatusError,))

    def indexed(self, post_id: int) -> dict[str, Any]:
        """The post once the index has it."""
        post: dict[str, Any] = self.wait_for(
            lambda: self.api(f"/api/posts/{post_id}")["post"], f"post {post_id} to be indexed"
        )
        return post


# Keeps every text a status line (form or toast) showed, across navigations, in
# sessionStorage "statusLog": pending states can be too brief to catch live.
STATUS_RECORDER = """
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    const box = el && el.closest('[role="status"]');
    if (!box || !box.textContent.trim()) continue;
    const log = JSON.parse(sessionStorage.getItem("statusLog") || "[]");
    const text = m.addedNodes.length && box.id === "toasts" ? m.addedNodes[0].textContent : box.textContent;
    if (log[log.length - 1] !== text) log.push(text);
    sessionStorage.setItem("statusLog", JSON.stringify(log));
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def status_log(page: Page) -> list[str]:
    """Every status text this tab has shown, oldest first."""
    return list(page.evaluate("JSON.parse(sessionStorage.getItem('statusLog') || '[]')"))


@dataclass
class Watched:
    """A page and what went wrong on it."""

    page: Page
    context: BrowserContext
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def inject_wallet(context: BrowserContext, ganache_url: str, account: str) -> None:
    """window.ethereum: an EIP-1193 provider whose requests reach Ganache through a Playwright binding.

    The page's CSP allows no connection but to its own origin, as a real
    extension's RPC happens outside the page; so the test stands in for the
    extension with a binding rather than a fetch from the page.
    """
    client = httpx.Client(timeout=30)

    def forward(payload: str) -> str:
        return client.post(ganache_url, content=payload, headers={"Content-Type": "application/json"}).text

    context.expose_function("__walletRpc", forward)
    context.add_init_script(f"window.__walletAccount = {json.dumps(account)};")
    context.add_init_script(
        """
        (() => {
          const account = window.__walletAccount;
          let id = 0;
          window.ethereum = {
            isTestWallet: true,
            on() {}, removeListener() {},
            async request({ method, params }) {
              if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
              const payload = JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params || [] });
              const answer = JSON.parse(await window.__walletRpc(payload));
              if (answer.error) {
                const error = new Error(answer.error.message);
                error.code = answer.error.code;
                error.data = answer.error.data;
                throw error;
              }
              return answer.result;
            },
          };
        })();
        """
    )


def _make_regulars(stack: Stack) -> None:
    """Every Ganache account upvotes a welcome post first, so the default lens counts its later votes."""
    welcome = stack.post({"title": "Welcome", "body": "The first post: the regulars' votes start here."})
    for account in range(1, len(stack.w3.eth.accounts)):
        stack.vote(welcome, 1, account)


@contextmanager
def running_stack(
    data_dir: Path, database_url: str = "", chain: type[Ganache] | type[Anvil] = Ganache
) -> Iterator[Stack]:
    """A chain (Ganache unless told) + a Board deployed into ``data_dir`` + ``python -m backend serve`` on its index."""
    if not ARTIFACT.exists():
        pytest.fail(f"{ARTIFACT} is missing: run `make compile` first")
    if not (VENDOR / "ethers.min.js").exists():
        pytest.fail(f"{VENDOR} is empty: run `make setup` (it copies the browser libraries)")
    for made in ("ethereumjs.js", "board-release.json"):  # static/js/proof.js's library and the release's code
        if not (VENDOR / made).exists():
            pytest.fail(f"{VENDOR / made} is missing: run `make vendor compile`")
    data_dir.mkdir()
    log_path = data_dir.parent / "app.log"
    with chain(free_port()) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        board = deploy_board(w3, data_dir)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("INDELIBLE_")},
            "INDELIBLE_DATA_DIR": str(data_dir),
            "INDELIBLE_RPC_URL": node.url,
            "INDELIBLE_HOST": "127.0.0.1",
            "INDELIBLE_PORT": str(port),
            "INDELIBLE_START_CHAIN": "never",
            "INDELIBLE_COLLAPSE_SCORE": str(COLLAPSE_SCORE),
            "INDELIBLE_RELAY_RATE": "6000",
            "INDELIBLE_RELAY_BURST": "1000",
            "INDELIBLE_RELAY_NEW_SIGNERS_PER_HOUR": "1000",  # every test's browser makes a key, all from 127.0.0.1
            **({"INDELIBLE_DATABASE_URL": database_url} if database_url else {}),
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_app_ready(url, process, log_path)
            stack = Stack(url, w3, board, data_dir, node.url, log_path)
            _make_regulars(stack)
            yield stack
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (rule, impact, first targets).

    axe is evaluated by the test, not served by the app: the page's CSP allows only its own scripts.
    """
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make setup` (axe-core is a devDependency)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        """() => axe.run(document, {resultTypes: ["violations"]}).then((result) => result.violations.map(
             (v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`))"""
    )
    return [str(line) for line in found]
