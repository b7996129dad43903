"""Posting and voting through the UI: with the browser key (signed, relayed) and with an injected wallet."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import COLLAPSE_SCORE, Stack, status_log

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _compose(page: Page, title: str, body: str) -> int:
    page.goto("/compose")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Body").fill(body)
    page.get_by_role("button", name="Post", exact=True).click()
    page.wait_for_url(re.compile(r"/posts/\d+$"), timeout=30_000)
    _saw_pending_then_confirmed(page)
    return int(page.url.rsplit("/", 1)[1])


def _saw_pending_then_confirmed(page: Page) -> None:
    log = status_log(page)
    pending = [i for i, text in enumerate(log) if text.startswith("Sent: transaction")]
    confirmed = [i for i, text in enumerate(log) if text.startswith("Shown on this node")]
    assert pending and confirmed and pending[0] < confirmed[-1], log
    page.evaluate("sessionStorage.removeItem('statusLog')")


def _reply(page: Page, body: str) -> int:
    page.locator(".thread-root a.reply-link").click()  # the form opens under the post, focused
    form = page.locator("form.compose").first
    expect(form.get_by_label("Your reply")).to_be_focused()
    before = set(page.locator("article.post").evaluate_all("els => els.map(e => e.dataset.postId)"))
    form.get_by_label("Your reply").fill(body)
    form.get_by_role("button", name="Post reply").click()
    reply = page.locator("article.post", has_text=body)
    expect(reply).to_be_visible(timeout=30_000)
    _saw_pending_then_confirmed(page)
    reply_id = reply.get_attribute("data-post-id")
    assert reply_id is not None and reply_id not in before
    return int(reply_id)


def _vote(page: Page, post_id: int, name: str) -> None:
    form = page.locator(f"form.vote[data-post-id='{post_id}']").first
    button = form.get_by_role("button", name=f"{name} post {post_id}")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true", timeout=30_000)
    expect(form.locator("button").first).not_to_have_attribute("aria-busy", "true", timeout=30_000)


def _fold_and_reveal(stack: Stack, page: Page, post_id: int, body: str) -> None:
    """Downvote from Ganache accounts until the post folds; the reader unfolds it in one click."""
    for account in range(10, 10 - COLLAPSE_SCORE + 1):
        stack.vote(post_id, -1, account)
    stack.wait_for(lambda: stack.api(f"/api/posts/{post_id}")["post"]["collapsed"], f"post {post_id} to fold")
    page.reload()
    folded = page.locator(f"article#post-{post_id}")
    summary = folded.locator("details.collapsed > summary")
    expect(summary).to_contain_text("folded by votes: show")
    expect(folded.get_by_text(body)).to_be_hidden()
    summary.click()
    expect(folded.get_by_text(body)).to_be_visible()


def test_browser_key_posts_replies_votes_and_it_all_persists(stack: Stack, open_page, artifacts: Path):
    page = open_page().page
    post_id = _compose(page, "Hello from a browser key", "Signed here, **relayed** there.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello from a browser key")
    account = page.locator("#account-link")
    expect(account).to_be_visible()
    address = account.get_attribute("data-address")
    assert address and ADDRESS.match(address)
    assert stack.api(f"/api/posts/{post_id}")["post"]["author"] == address

    reply_id = _reply(page, "A reply, signed in the browser.")
    assert stack.api(f"/api/posts/{reply_id}")["post"]["parent_id"] == post_id
    # the page put in place of the old one is checked against the chain as the first was, the reply included
    mark = page.locator(f"article#post-{reply_id} [data-chain-mark]").first
    expect(mark).to_have_text(re.compile(r"^checked by 1 RPC at block \d+$"))

    _vote(page, post_id, "Upvote")
    tally = page.locator(f"form.vote[data-post-id='{post_id}'] .tally").first
    expect(tally).to_contain_text("1 up, 0 down")
    _vote(page, reply_id, "Downvote")
    assert stack.api(f"/api/posts/{reply_id}")["post"]["downvotes"] == 1

    _fold_and_reveal(stack, page, reply_id, "A reply, signed in the browser.")
    page.screenshot(path=artifacts / "thread.png", full_page=True)

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello from a browser key")
    expect(page.locator("#account-link")).to_have_attribute("data-address", address)
    expect(page.locator(f"form.vote[data-post-id='{post_id}'] .vote-up").first).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator(f"article#post-{reply_id} details.collapsed")).to_have_count(1)
    page.goto("/new")
    expect(page.locator(f"article#post-{post_id}")).to_contain_text("Hello from a browser key")
    page.screenshot(path=artifacts / "front.png", full_page=True)


def test_vote_buttons_work_from_the_keyboard(stack: Stack, open_page):
    post_id = stack.post({"title": "Keyboard voting", "body": "Tab, then Enter."})
    stack.indexed(post_id)
    page = open_page().page
    page.goto(f"/posts/{post_id}")
    up = page.get_by_role("button", name=f"Upvote post {post_id}")
    up.focus()
    page.keyboard.press("Enter")
    expect(up).to_have_attribute("aria-pressed", "true", timeout=30_000)
    tally = page.locator(f"form.vote[data-post-id='{post_id}'] .tally")
    expect(tally).to_contain_text("1 up, 0 down")
    # pressing the pressed button again withdraws the vote
    expect(up).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    up.press("Space")
    expect(up).to_have_attribute("aria-pressed", "false", timeout=30_000)
    expect(tally).to_contain_text("0 up, 0 down")


def test_injected_wallet_sends_posts_and_votes_itself(stack: Stack, open_page):
    wallet = stack.w3.eth.accounts[5]
    page = open_page(wallet=wallet).page
    post_id = _compose(page, "Hello from a wallet", "Sent by **eth_sendTransaction**.")
    post = stack.api(f"/api/posts/{post_id}")["post"]
    assert post["author"] == wallet
    assert stack.w3.eth.get_transaction(post["tx_hash"])["from"] == wallet
    expect(page.locator("#account-link")).to_have_attribute("data-address", re.compile(wallet, re.IGNORECASE))

    reply_id = _reply(page, "A reply from the wallet.")
    _vote(page, post_id, "Upvote")
    _vote(page, reply_id, "Downvote")
    assert stack.board.functions.voteOf(post_id, wallet).call() == 1
    assert stack.board.functions.voteOf(reply_id, wallet).call() == -1

    _fold_and_reveal(stack, page, reply_id, "A reply from the wallet.")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello from a wallet")
    expect(page.locator(f"article#post-{reply_id}")).to_have_class(re.compile("is-collapsed"))
    expect(page.locator(f"form.vote[data-post-id='{post_id}'] .tally").first).to_contain_text("1 up, 0 down")


def test_key_is_exported_and_imported(stack: Stack, open_page):
    page = open_page().page
    page.goto("/key")
    page.get_by_role("button", name="Make a key now").click()
    made = page.locator("#key-address").inner_text()
    assert ADDRESS.match(made)
    page.get_by_role("button", name="Show private key").click()
    exported = page.get_by_label("Private key", exact=True).input_value()
    assert re.match(r"^0x[0-9a-f]{64}$", exported)

    other = open_page().page
    other.goto("/key")
    other.get_by_label("Private key (0x + 64 hex digits)").fill(exported)
    other.get_by_role("button", name="Import and replace").click()
    expect(other.locator("#key-import-form .tx-status")).to_contain_text(made)
    expect(other.locator("#key-address")).to_have_text(made)
    other.reload()
    expect(other.locator("#key-address")).to_have_text(made)
