"""Find and follow in Chromium: search (body word, title word, phrase, a folded post found folded) and the inbox.

Runs on its own stack per database engine (SQLite, and PostgreSQL when INDELIBLE_TEST_POSTGRES_URL is set):
the ``stack`` fixture here stands in for the session's for this module's tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import COLLAPSE_SCORE, Stack, running_stack
from tests.support.index import DATABASES, POSTGRES_URL, reset_postgres


@pytest.fixture(scope="module", params=DATABASES)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own on SQLite or PostgreSQL."""
    url = ""
    if request.param == "postgresql":
        reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    with running_stack(tmp_path_factory.mktemp(f"search-{request.param}") / "data", url) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, int]:
    """A post, a reply to it, and a post folded by votes."""
    top = stack.post({"title": "Tidal pools at dusk", "body": "Anemones close when the *water* drains away."})
    reply = stack.post({"body": "Hermit crabs swap shells at low tide."}, parent_id=top, account=1)
    folded = stack.post({"title": "Unpopular opinion", "body": "Barnacles are the best neighbours."}, account=2)
    for account in range(1, -COLLAPSE_SCORE + 1):
        stack.vote(folded, -1, account)
    stack.wait_for(lambda: stack.api(f"/api/posts/{folded}")["post"]["collapsed"], "the post to fold")
    stack.indexed(reply)
    return {"top": top, "reply": reply, "folded": folded}


def _search(open_page, q: str):
    page = open_page().page
    page.goto("/")
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Search").click()
    page.get_by_label('Words or "a phrase"').fill(q)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?q=*")
    return page


def test_a_word_in_a_body_finds_the_post_highlighted(stack: Stack, seeded: dict[str, int], open_page):
    page = _search(open_page, "anemones")
    result = page.locator(f"#post-{seeded['top']}")
    expect(result.locator("mark")).to_have_text("Anemones")
    expect(page.locator(".search-result")).to_have_count(1)


def test_a_word_in_a_title_finds_the_post_and_links_to_it(stack: Stack, seeded: dict[str, int], open_page):
    page = _search(open_page, "dusk")
    result = page.locator(f"#post-{seeded['top']}")
    expect(result.locator(".post-title mark")).to_have_text("dusk")
    result.get_by_role("link", name="Tidal pools at dusk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tidal pools at dusk")


def test_a_phrase_finds_a_reply_with_a_link_into_its_thread(stack: Stack, seeded: dict[str, int], open_page):
    page = _search(open_page, '"swap shells"')
    result = page.locator(f"#post-{seeded['reply']}")
    expect(result.locator("mark")).to_have_text(["swap", "shells"])
    expect(result.get_by_role("link", name=f"thread {seeded['top']}")).to_have_attribute(
        "href", f"/posts/{seeded['top']}#post-{seeded['reply']}"
    )
    assert page.locator(".search-result").count() == 1
    expect(_search(open_page, '"shells swap"').get_by_text("No post holds all of: shells swap.")).to_be_visible()


def test_a_folded_post_is_found_and_shown_folded(stack: Stack, seeded: dict[str, int], open_page):
    page = _search(open_page, "barnacles")
    folded = page.locator(f"#post-{seeded['folded']}")
    expect(folded.locator("details.collapsed > summary")).to_contain_text("folded by votes: show")
    expect(folded.get_by_text("Unpopular opinion")).to_be_hidden()
    folded.locator("details.collapsed > summary").click()
    expect(folded.get_by_text("Unpopular opinion")).to_be_visible()
    expect(page.get_by_role("link", name="This data as JSON")).to_have_attribute(
        "href", "/api/search?q=barnacles&sort=relevance"
    )


def test_a_reply_shows_in_the_authors_inbox_with_the_unread_count(stack: Stack, seeded: dict[str, int], open_page):
    wallet = stack.w3.eth.accounts[6]
    mine = stack.post({"title": "Who reads this?", "body": "Tell me."}, account=6)
    stack.indexed(mine)
    page = open_page(wallet=wallet).page
    page.goto("/")
    expect(page.locator("#inbox-link")).to_have_attribute("aria-label", "Inbox")  # counted: none unread
    expect(page.locator("#inbox-unread")).to_be_hidden()
    reply = stack.post({"body": "I do, every morning."}, parent_id=mine, account=7)
    stack.indexed(reply)
    page.reload()
    expect(page.locator("#inbox-unread")).to_have_text("1")
    expect(page.locator("#inbox-link")).to_have_attribute("aria-label", "Inbox, 1 unread")
    page.locator("#inbox-link").click()
    page.wait_for_url("**/inbox?address=*")
    expect(page.locator(f"#post-{reply}")).to_contain_text("I do, every morning.")
    expect(page.locator("#inbox-link")).to_have_attribute("aria-label", "Inbox")
    expect(page.locator("#inbox-unread")).to_be_hidden()
    page.goto("/")
    expect(page.locator("#inbox-link")).to_have_attribute("aria-label", "Inbox")  # counted: none unread
    expect(page.locator("#inbox-unread")).to_be_hidden()


def test_composing_with_a_topic_suggested_puts_the_post_in_the_topic_feed(
    stack: Stack, seeded: dict[str, int], open_page
):
    earlier = stack.post({"title": "Rock pools", "body": "Starfish.", "topic": "tide-pools"}, account=8)
    stack.indexed(earlier)
    page = open_page().page
    page.goto("/topics")
    page.get_by_role("link", name="tide-pools").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Topic tide-pools")
    expect(page.locator(f"#post-{earlier}")).to_be_visible()
    page.get_by_role("link", name="Post in tide-pools").click()
    expect(page.get_by_label("Topic")).to_have_value("tide-pools")
    expect(page.locator("#compose-topics option[value='tide-pools']")).to_have_count(1)
    page.get_by_label("Title").fill("Sea slugs")
    page.get_by_label("Body").fill("Nudibranchs are *bright*.")
    page.get_by_role("button", name="Post", exact=True).click()
    page.wait_for_url(re.compile(r"/posts/\d+$"), timeout=30_000)
    post_id = int(page.url.rsplit("/", 1)[1])
    assert stack.api(f"/api/posts/{post_id}")["post"]["topic"] == "tide-pools"
    page.get_by_role("link", name="tide-pools").first.click()
    expect(page.locator(f"#post-{post_id}")).to_be_visible()
    page.get_by_role("navigation", name="Sort posts").get_by_role("link", name="New", exact=True).click()
    expect(page.locator("ol.feed article.post").first).to_have_attribute("data-post-id", str(post_id))
    expect(page.get_by_role("link", name="This data as JSON")).to_have_attribute(
        "href", "/api/posts?sort=new&topic=tide-pools"
    )
