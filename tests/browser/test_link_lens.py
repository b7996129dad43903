"""Links don't speak for the reader (issue 19.10): a lens, fold, trust or mute list that came in a link is labelled
"set by this link", never "your lens" or "muted by you", with one click back to the reader's own settings; with
and without JavaScript. A reader whose saved settings the URL holds still reads "your lens" / "muted by you".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.support.browser import Stack, Watched


@pytest.fixture(scope="module")
def crafted(stack: Stack) -> dict[str, str]:
    """A post by an author the crafted link mutes, and the links: a trusted lens that folds everything, a mute."""
    post = stack.post({"title": "Link-muted author", "body": "Nobody chose to mute me."}, account=6)
    stack.indexed(post)
    stranger = stack.w3.eth.accounts[9]
    author = stack.w3.eth.accounts[6]
    return {
        "post": str(post),
        "lens": f"/new?lens=trusted&trust={stranger}&fold=0",
        "mute": f"/posts/{post}?mute={author}",
    }


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_crafted_lens_link_is_labelled_set_by_this_link_with_one_click_back(
    open_page: Callable[..., Watched], crafted: dict[str, str], javascript: bool
) -> None:
    page = open_page(javascript=javascript).page
    page.goto(crafted["lens"])
    reasons = page.locator("[data-fold-reason]")
    expected = "folded by votes (lens set by this link)" if javascript else "folded by votes"
    expect(reasons.first).to_have_text(expected)
    assert set(reasons.all_text_contents()) == {expected}
    expect(page.locator(".lens-line").first).to_contain_text("lens set by this link: trusted")
    assert "your lens" not in page.content()
    expect(page.locator("details.score .tally").first).to_contain_text("the lens set by this link (trusted)")
    note = page.locator("#link-lens")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Set by this link, not by your settings: lens trusted, fold at 0, 1 trusted voter.")
    note.get_by_role("link", name="Read with your own settings").click()
    page.wait_for_url("**/new")
    expect(page.locator("#link-lens")).to_have_count(0)
    assert "set by this link" not in page.content()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_crafted_mute_link_says_muted_by_this_link_not_muted_by_you(
    open_page: Callable[..., Watched], crafted: dict[str, str], javascript: bool
) -> None:
    page = open_page(javascript=javascript).page
    page.goto(crafted["mute"])
    post = page.locator(f"#post-{crafted['post']}")
    expect(post.locator("details.collapsed > summary")).to_contain_text("muted by this link: show")
    assert "muted by you" not in page.content()
    expect(page.locator("#link-lens")).to_contain_text("1 muted author")


def test_the_readers_own_saved_mute_and_lens_still_read_as_theirs(
    open_page: Callable[..., Watched], crafted: dict[str, str]
) -> None:
    page = open_page().page
    page.goto(crafted["mute"].split("?")[0])
    page.locator(f"#post-{crafted['post']}").get_by_role("button", name="mute author").click()
    page.wait_for_url("**?mute=*")
    summary = page.locator(f"#post-{crafted['post']} details.collapsed > summary")
    expect(summary).to_contain_text("muted by you: show")
    expect(page.locator("#link-lens")).to_be_hidden()
    page.goto(crafted["lens"])  # a saved reader following the crafted link reads with their own settings
    page.wait_for_url("**/new?mute=*")
    expect(page.locator("#link-lens")).to_be_hidden()
    assert "set by this link" not in page.locator("main").inner_text()
    page.locator(f"#post-{crafted['post']}").get_by_role("button", name="unmute").click()
    page.wait_for_url("**/new")
