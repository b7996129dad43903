"""Your vote as the index knows it: highlighted from /api/votes, confirmed by the voter's own vote.

The pressed up/down button shows the voter's vote read from the index, so it survives a cleared
vote cache, a stale one, another browser and votes sent from elsewhere; a vote is confirmed when the
index shows it, however many others vote on the same post meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.support.browser import Stack, status_log

KEY_ITEM = "indelible.key"  # signer.js: the browser key
VOTES_CACHE = "indelible.votes."  # signer.js: + address, that voter's votes as last seen here (a cache)
OTHER_VOTERS = (14, 15, 16)  # Ganache accounts voting beside the user (1 is the relayer)


def _button(page: Page, post_id: int, name: str) -> Locator:
    form = page.locator(f"form.vote[data-post-id='{post_id}']").first
    return form.get_by_role("button", name=f"{name} post {post_id}")


def _vote(page: Page, post_id: int, name: str) -> None:
    button = _button(page, post_id, name)
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true", timeout=30_000)
    expect(button).not_to_have_attribute("aria-busy", "true", timeout=30_000)


def _shows(page: Page, post_id: int, direction: int) -> None:
    """The post's buttons show ``direction`` as the reader's vote (0: neither pressed)."""
    for name, pressed in (("Upvote", direction == 1), ("Downvote", direction == -1)):
        expect(_button(page, post_id, name)).to_have_attribute("aria-pressed", str(pressed).lower(), timeout=10_000)


def _make_key(page: Page) -> str:
    page.goto("/key")
    page.get_by_role("button", name="Make a key now").click()
    return page.locator("#key-address").inner_text()


@contextmanager
def _one_block(stack: Stack) -> Iterator[None]:
    """Ganache mines nothing inside: what is sent meanwhile lands in one block when it ends."""
    stack.w3.provider.make_request("miner_stop", [])
    try:
        yield
    finally:
        stack.w3.provider.make_request("miner_start", [])


def test_vote_stays_highlighted_with_the_vote_cache_cleared(stack: Stack, open_page):
    post_id = stack.post({"title": "Highlighted from the index", "body": "Not from this browser's memory."})
    stack.indexed(post_id)
    page = open_page().page
    page.goto(f"/posts/{post_id}")
    _vote(page, post_id, "Upvote")
    address = page.locator("#account-link").get_attribute("data-address")
    key = page.evaluate(f"localStorage.getItem({json.dumps(KEY_ITEM)})")
    page.evaluate(f"localStorage.removeItem({json.dumps(VOTES_CACHE + str(address))})")
    assert page.evaluate(f"Object.keys(localStorage).filter(k => k.startsWith({json.dumps(VOTES_CACHE)}))") == []

    page.reload()
    _shows(page, post_id, 1)
    assert page.evaluate(f"localStorage.getItem({json.dumps(KEY_ITEM)})") == key


def test_a_stale_vote_cache_gives_way_to_the_index(stack: Stack, open_page):
    post_id = stack.post({"title": "A vote this browser only imagines", "body": "The cache says down."})
    stack.indexed(post_id)
    page = open_page().page
    address = _make_key(page)
    page.evaluate(f"localStorage.setItem({json.dumps(VOTES_CACHE + address)}, {json.dumps(json.dumps({post_id: -1}))})")
    with page.expect_response(lambda response: f"/api/votes/{address}?" in response.url):
        page.goto(f"/posts/{post_id}")
    _shows(page, post_id, 0)


def test_the_vote_cache_stands_in_when_the_index_does_not_answer(stack: Stack, open_page):
    post_id = stack.post({"title": "The index is unreachable", "body": "The cache remembers."})
    stack.indexed(post_id)
    page = open_page().page
    address = _make_key(page)
    page.evaluate(f"localStorage.setItem({json.dumps(VOTES_CACHE + address)}, {json.dumps(json.dumps({post_id: 1}))})")
    asked: list[str] = []

    def broken(route: Route) -> None:
        # a 200 that is no JSON (a proxy's page, say): a 5xx would log a console error, failing the test
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>Service unavailable</p>")

    page.route("**/api/votes/**", broken)
    page.goto(f"/posts/{post_id}")
    page.wait_for_load_state("networkidle")  # the broken answer came and went: what shows now stays
    assert asked and f"/api/votes/{address}?posts={post_id}" in asked[0]
    assert _button(page, post_id, "Upvote").get_attribute("aria-pressed") == "true"
    assert _button(page, post_id, "Downvote").get_attribute("aria-pressed") == "false"


def test_an_imported_key_shows_its_earlier_votes(stack: Stack, open_page):
    top = stack.post({"title": "Votes follow the key", "body": "Not the browser."})
    reply = stack.post({"body": "Downvoted by the key."}, parent_id=top, account=2)
    stack.indexed(reply)
    first = open_page().page
    first.goto(f"/posts/{top}")
    _vote(first, top, "Upvote")
    _vote(first, reply, "Downvote")
    first.goto("/key")
    first.get_by_role("button", name="Show private key").click()
    exported = first.get_by_label("Private key", exact=True).input_value()

    fresh = open_page().page
    fresh.goto("/key")
    fresh.get_by_label("Private key (0x + 64 hex digits)").fill(exported)
    fresh.get_by_role("button", name="Import and replace").click()
    expect(fresh.locator("#key-import-form .tx-status")).to_contain_text("Imported")
    fresh.goto(f"/posts/{top}")
    _shows(fresh, top, 1)
    _shows(fresh, reply, -1)


def test_a_wallet_sees_the_votes_it_sent_from_elsewhere(stack: Stack, open_page):
    wallet = stack.w3.eth.accounts[8]
    post_id = stack.post({"title": "Voted from another app", "body": "Straight to the contract."})
    stack.vote(post_id, -1, 8)
    stack.wait_for(lambda: stack.api(f"/api/posts/{post_id}")["post"]["downvotes"] == 1, "the vote to be indexed")
    page = open_page(wallet=wallet).page
    page.goto(f"/posts/{post_id}")
    _shows(page, post_id, -1)


@pytest.mark.parametrize("signer", ["key", "wallet"])
def test_vote_confirms_while_others_vote_on_the_same_post(stack: Stack, open_page, signer: str):
    """Others' votes land in the very block of ours: the post's tallies never equal "before + ours"."""
    post_id = stack.post({"title": f"A busy post ({signer})", "body": "Everyone votes at once."})
    stack.indexed(post_id)
    page = open_page(wallet=stack.w3.eth.accounts[7] if signer == "wallet" else None).page
    page.goto(f"/posts/{post_id}")
    up = _button(page, post_id, "Upvote")
    with _one_block(stack):
        up.click()
        stack.wait_for(lambda: any(t.startswith("Pending: vote") for t in status_log(page)), "the vote to be sent")
        for account in OTHER_VOTERS:
            call = stack.board.functions.vote(post_id, stack.digest_of(post_id), 1)
            call.transact({"from": stack.w3.eth.accounts[account]})

    def confirmed() -> bool:
        # as on a live chain, blocks keep coming: ethers' tx.wait() looks for the receipt on each new block
        stack.w3.provider.make_request("evm_mine", [])
        return "Vote confirmed." in status_log(page)

    stack.wait_for(confirmed, "the vote to be confirmed", timeout=20)
    expect(up).to_have_attribute("aria-pressed", "true")
    tally = page.locator(f"form.vote[data-post-id='{post_id}'] .tally")
    expect(tally).to_contain_text(f"{1 + len(OTHER_VOTERS)} up, 0 down")
    assert not [text for text in status_log(page) if "not caught up" in text]
    assert stack.api(f"/api/posts/{post_id}")["post"]["upvotes"] == 1 + len(OTHER_VOTERS)


def test_a_vote_on_a_post_a_reorg_replaced_is_refused_with_the_reason(stack: Stack, open_page):
    """The page shows post N; the chain then gives N to another post; the vote names the shown one and fails."""
    snapshot = stack.w3.provider.make_request("evm_snapshot", [])["result"]
    post_id = stack.post({"title": "The post on the page", "body": "Read before the reorganisation."})
    shown_digest = "0x" + stack.digest_of(post_id).hex()
    stack.indexed(post_id)
    watched = open_page()
    page = watched.page
    page.goto(f"/posts/{post_id}")
    expect(page.locator(f"form.vote[data-post-id='{post_id}']").first).to_have_attribute(
        "data-post-digest", shown_digest
    )

    assert stack.w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    other = stack.post({"title": "Somebody else's post", "body": "Took the id on the new branch."}, account=3)
    assert other == post_id
    other_digest = "0x" + stack.digest_of(other).hex()

    _button(page, post_id, "Upvote").click()
    refused = (
        f"Vote failed: post {post_id} is not the post you voted on: its digest is {other_digest}, you signed "
        f"{shown_digest} (the chain reorganised or another post took that id)"
    )
    stack.wait_for(lambda: refused in status_log(page), "the refusal to be shown")
    assert stack.board.functions.getPost(post_id).call()[4:] == [0, 0]
    # the relay's 400 is the expected refusal, not a page error
    watched.errors[:] = [e for e in watched.errors if "status of 400" not in e]
