"""Screenshots for people (test-artifacts/) and a layout check: no sideways scroll at 375 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import COLLAPSE_SCORE, Stack

LONG = (
    "A longer body with a list:\n\n- one\n- two with `code`\n\n> a quote\n\n"
    '```\nfn main() { println!("a rather long line of code that must scroll, not stretch the page"); }\n```\n\n'
    "And an unbroken 0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef."
)


@pytest.fixture(scope="module")
def thread(stack: Stack) -> int:
    top = stack.post({"title": "What should a board that forgets nothing look like?", "body": LONG}, account=6)
    first = stack.post({"body": "Calm, readable, and **honest** about what is folded."}, parent_id=top, account=7)
    stack.post({"body": "Agreed; and the proof one click away."}, parent_id=first, account=8)
    folded = stack.post({"body": "Buy cheap watches!!!"}, parent_id=top, account=9)
    for account in range(10, 10 - COLLAPSE_SCORE + 1):
        stack.vote(folded, -1, account)
    stack.vote(top, 1, 7)
    stack.vote(first, 1, 6)
    stack.wait_for(lambda: stack.api(f"/api/posts/{folded}")["post"]["collapsed"], "the spam to fold")
    return top


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_front_and_thread_fit_the_screen(stack: Stack, thread: int, open_page, artifacts: Path, width: int, dark: bool):
    page = open_page(width=width, height=800, dark=dark).page
    scheme = "dark" if dark else "light"
    for name, path in (("front", "/new"), ("thread", f"/posts/{thread}")):
        page.goto(path)
        expect(page.locator("article.post").first).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at {width} px"
        page.screenshot(path=artifacts / f"{name}-{width}-{scheme}.png", full_page=True)
    for name in ("status", "compose", "key"):
        page.goto(f"/{name}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"/{name} scrolls sideways by {overflow} px at {width} px"
        page.screenshot(path=artifacts / f"{name}-{width}-{scheme}.png", full_page=True)
