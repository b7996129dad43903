"""The browser suite: Debian's Chromium driving the real app on a real chain.

One session stack: a throwaway Ganache, a Board deployed from the brownie
artifact and recorded in a tmp data dir, and ``python -m backend serve`` (app,
indexer, relay) on a free port. Every page a test opens fails the test on a
console error, an uncaught exception or a dialog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page
from web3 import Web3
from web3.contract import Contract

from backend.config import PROJECT_ROOT
from backend.devchain import Ganache, deploy_board, free_port

CHROMIUM = os.environ.get("INDELIBLE_CHROMIUM", "/usr/bin/chromium")
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
    board: Contract
    data_dir: Path
    ganache_url: str
    log_path: Path

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
        return bytes(self.board.functions.getPost(post_id).call()[2]) if post_id else bytes(32)

    def post_digest(self, digest: str, parent_id: int = 0, account: int = 0) -> int:
        """Post a digest from a Ganache account, naming the parent's digest; returns the post id."""
        sender = self.w3.eth.accounts[account]
        tx = self.board.functions.post(digest, parent_id, self.digest_of(parent_id)).transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        return int(self.board.events.PostCreated().process_receipt(receipt)[0]["args"]["postId"])

    def vote(self, post_id: int, direction: int, account: int) -> None:
        """Vote from a Ganache account."""
        call = self.board.functions.vote(post_id, self.digest_of(post_id), direction)
        tx = call.transact({"from": self.w3.eth.accounts[account]})
        self.w3.eth.wait_for_transaction_receipt(tx)

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """Poll ``check`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = check()
            except httpx.HTTPStatusError:
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; app log: {self.log_path}")

    def indexed(self, post_id: int) -> dict[str, Any]:
        """The post once the index has it."""
        return self.wait_for(lambda: self.api(f"/api/posts/{post_id}")["post"], f"post {post_id} to be indexed")


def _deploy(w3: Web3, data_dir: Path) -> Contract:
    deployment = deploy_board(w3, data_dir)
    return w3.eth.contract(address=deployment.address, abi=deployment.abi)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            status = httpx.get(url + "/api/status", timeout=2).json()
            if status.get("index", {}).get("current"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"the app at {url} was not ready within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Ganache + a deployed Board + the app under uvicorn, for the whole browser suite."""
    if not ARTIFACT.exists():
        pytest.fail(f"{ARTIFACT} is missing: run `make compile` first")
    if not (VENDOR / "ethers.min.js").exists():
        pytest.fail(f"{VENDOR} is empty: run `make setup` (it copies the browser libraries)")
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    data_dir.mkdir()
    log_path = data_dir.parent / "app.log"
    with Ganache(free_port()) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        board = _deploy(w3, data_dir)
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
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log_path)
            yield Stack(url, w3, board, data_dir, node.url, log_path)
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a downloaded browser; a missing one fails the run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) "
            "or point INDELIBLE_CHROMIUM at it. Browser tests never skip."
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


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


def _injected_wallet(context: BrowserContext, ganache_url: str, account: str) -> None:
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


@pytest.fixture
def open_page(browser: Browser, stack: Stack) -> Iterator[Callable[..., Watched]]:
    """Factory: ``open_page(javascript=True, width=1280, dark=False, wallet=None)`` -> a watched page.

    ``wallet`` is a Ganache account address to inject as window.ethereum.
    Console errors, page errors and dialogs fail the test at teardown.
    """
    opened: list[Watched] = []

    def factory(
        *, javascript: bool = True, width: int = 1280, height: int = 900, dark: bool = False, wallet: str | None = None
    ) -> Watched:
        context = browser.new_context(
            base_url=stack.url,
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
        )
        context.set_default_timeout(20_000)
        if wallet is not None:
            _injected_wallet(context, stack.ganache_url, wallet)
        context.add_init_script(STATUS_RECORDER)
        page = context.new_page()
        watched = Watched(page, context)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.errors.append(f"console: {message.text} at {message.location}")

        def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", lambda error: watched.errors.append(f"pageerror: {error}"))
        page.on("dialog", on_dialog)
        opened.append(watched)
        return watched

    yield factory
    problems = [f"{p}" for w in opened for p in (*w.errors, *w.dialogs)]
    for watched in opened:
        watched.context.close()
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ (gitignored): screenshots for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
