"""The browser suite: Debian's Chromium driving the real app on a real chain.

One session stack: a throwaway Ganache, a Board deployed from the brownie
artifact and recorded in a tmp data dir, and ``python -m backend serve`` (app,
indexer, relay) on a free port. Every page a test opens fails the test on a
console error, an uncaught exception or a dialog. Helpers live in ``tests/support/browser.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog

from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    STATUS_RECORDER,
    Stack,
    Watched,
    inject_wallet,
    running_stack,
)

CHROMIUM = os.environ.get("INDELIBLE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Ganache + a deployed Board + the app under uvicorn, for the whole browser suite."""
    with running_stack(tmp_path_factory.mktemp("browser") / "data") as running:
        yield running


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a downloaded browser; a missing one fails the run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) "
            "or point INDELIBLE_CHROMIUM at it. Browser tests never skip."
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


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
            inject_wallet(context, stack.ganache_url, wallet)
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
