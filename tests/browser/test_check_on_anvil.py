"""The reader's browser check on Anvil (issue 21.3): the same pages, checked against Anvil's RPC.

Its own stack (Anvil, a Board, ``python -m backend serve``); the session stack and
tests/browser/test_trust.py run the same check on Ganache.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from backend.devchain import Anvil
from tests.support.browser import CHROMIUM_ARGS, Stack, running_stack

POSTS = 4


@pytest.fixture(scope="module")
def anvil_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("anvil") / "data", chain=Anvil) as stack:
        for n in range(POSTS):
            stack.indexed(stack.post({"title": f"Anvil {n}", "body": f"checked in the **browser** ({n})"}))
        yield stack


def test_every_post_on_an_anvil_node_is_checked_against_anvil(browser: Browser, anvil_stack: Stack):
    assert CHROMIUM_ARGS  # Debian's Chromium, as for the whole browser suite
    context = browser.new_context(base_url=anvil_stack.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if isinstance(m, ConsoleMessage) and m.type == "error" else None)
    page.goto("/new")
    expect(page.locator("#chain-check[data-checked=true]")).to_have_count(1)
    block = page.get_attribute("#chain-check", "data-index-block")
    marks = page.eval_on_selector_all(
        "article[data-post-id]",
        "els => els.map(a => [a.dataset.postId, a.querySelector('[data-chain-mark]').textContent])",
    )
    shown = len(marks)
    assert shown == POSTS + 1  # the regulars' welcome post and ours
    assert {mark for _, mark in marks} == {f"checked by 1 RPC at block {block}"}
    expect(page.locator("[data-chain-summary]")).to_contain_text(
        f"All {shown} posts shown checked against chain at block {block}"
    )
    expect(page.locator("[data-chain-summary]")).to_contain_text(anvil_stack.ganache_url.split("//")[1])
    assert anvil_stack.w3.eth.chain_id == 31337
    assert errors == []
    context.close()
