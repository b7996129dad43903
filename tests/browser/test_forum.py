"""Issue 24, a forum people want to use: dense rows, quiet checks, one score, forum threads, posting steps, status in
human terms, a first visit, keys, and no page with an axe violation, light or dark."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import Stack, axe_violations, status_log
from tests.support.seed import SeededBoard, seed_board


@pytest.fixture(scope="module")
def board(stack: Stack) -> SeededBoard:
    """Forty posts in a dozen topics, votes on them, a thread nine replies deep with a side branch and folded spam."""
    return seed_board(stack)


def _rows_above_the_fold(page: Page) -> int:
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll("ol.feed article.post")]
                 .filter((row) => row.getBoundingClientRect().bottom <= window.innerHeight).length"""
        )
    )


def _words(post: dict, lens: str = "default") -> str:
    up, down, c_up, c_down = (post[k] for k in ("upvotes", "downvotes", "counted_upvotes", "counted_downvotes"))
    left_out = up + down - c_up - c_down
    if not left_out:
        return f"{up} up, {down} down; your lens ({lens}) counts them all"
    were = "voter was" if left_out == 1 else "voters were"
    counted = f"{up} up, {down} down; your lens ({lens}) counts {c_up} up, {c_down} down"
    return f"{counted}: {left_out} {were} new to the board"


# 1. dense listings


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_front_page_shows_fifteen_posts_above_the_fold_each_in_two_lines(
    stack: Stack, board: SeededBoard, open_page, javascript: bool
):
    page = open_page(javascript=javascript, width=1280, height=900).page
    page.goto("/new")
    expect(page.locator("ol.feed article.post").first).to_be_visible()
    if javascript:
        page.locator("[data-welcome]").get_by_role("button", name="Got it").click()  # a first visit's notice
        expect(page.locator("#chain-check [data-chain-summary]")).to_be_visible()
    assert _rows_above_the_fold(page) >= 15
    row = page.locator(f"#post-{board.posts[-1]}")
    title = row.locator(".post-title")
    meta = row.locator(".meta")
    # line one: the title and the topic; line two: score, replies, author, age (and the badges)
    expect(title.locator(".topic")).to_have_text(re.compile(r"topic\s*meta"))
    for part in (".score-value", ".replies-link", ".author", "time"):
        expect(meta.locator(part)).to_be_visible()
    for line in (title, meta):
        box = line.bounding_box()
        assert box is not None and box["height"] < 30, f"{line} wraps: {box}"


def test_front_page_reads_at_375_px_without_sideways_scroll(stack: Stack, board: SeededBoard, open_page):
    page = open_page(width=375, height=812).page
    page.goto("/new")
    row = page.locator(f"#post-{board.posts[-1]}")
    expect(row.locator(".post-title a").first).to_be_visible()
    expect(row.locator(".meta .author")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the front page scrolls sideways by {overflow} px at 375 px"
    size = page.locator(".post-title a").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 15


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_lens_is_named_once_beside_the_sort_tabs(stack: Stack, board: SeededBoard, open_page, javascript: bool):
    page = open_page(javascript=javascript).page
    page.goto("/")
    line = page.locator(".tabs-bar .lens-line")
    expect(line).to_have_text("lens: default · change")
    expect(line.get_by_role("link", name="change")).to_have_attribute("href", "/settings#lens-heading")
    expect(page.locator("main").get_by_text(re.compile("lens: "))).to_have_count(1)
    page.goto("/new?lens=all")  # a lens that came in the link is the link's, not the reader's (issue 19.10)
    expect(page.locator(".lens-line")).to_have_text("lens set by this link: all · change")


# 2. quiet checks: one badge per post, the RPC in Settings


def test_each_post_shows_one_quiet_badge_that_opens_its_check(stack: Stack, board: SeededBoard, open_page):
    page = open_page().page
    page.goto("/new")
    expect(page.locator("#chain-check[data-checked=true]")).to_have_count(1)
    expect(page.locator("form.chain-rpc")).to_have_count(0)  # no expert's control on the reader's path
    rows = page.locator("ol.feed article.post")
    expect(page.locator("ol.feed [data-check-badge][data-check=checked]")).to_have_count(rows.count())
    expect(page.locator("[data-check-badge][open]")).to_have_count(0)
    badge = page.locator(f"#post-{board.posts[-1]} [data-check-badge]")
    summary = badge.locator("summary")
    expect(summary).to_have_accessible_name("checked against the chain")  # the ✓ is aria-hidden
    mark = badge.locator("[data-chain-mark]")
    expect(mark).to_be_hidden()
    summary.click()
    expect(mark).to_be_visible()
    expect(mark).to_have_text(re.compile(r"(checked|proven).* at block \d+"))
    link = badge.get_by_role("link", name="Check through another RPC or your wallet")
    expect(link).to_have_attribute("href", "/settings#checks-heading")
    link.click()
    rpc = page.get_by_label("Check against the chain through")
    expect(rpc).to_be_visible()
    expect(rpc).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+"))
    summary_line = page.locator("[data-chain-summary]")
    page.go_back()
    expect(summary_line).to_have_text(re.compile(r"^All \d+ posts shown"))
    box = summary_line.bounding_box()
    assert box is not None and box["height"] < 30  # the page's line stays, on one line


def test_the_rpc_the_checks_use_is_set_in_settings(stack: Stack, open_page):
    page = open_page().page
    page.goto("/settings")
    rpc = page.get_by_label("Check against the chain through")
    node = rpc.input_value()
    rpc.fill("http://127.0.0.1:9/")
    with page.expect_navigation():
        page.get_by_role("button", name="Use this RPC").click()
    assert page.evaluate("localStorage.getItem('indelible.rpc')") == "http://127.0.0.1:9/"
    expect(page.get_by_label("Check against the chain through")).to_have_value("http://127.0.0.1:9/")
    page.get_by_label("Check against the chain through").fill("")
    with page.expect_navigation():
        page.get_by_role("button", name="Use this RPC").click()
    assert page.evaluate("localStorage.getItem('indelible.rpc')") is None
    expect(page.get_by_label("Check against the chain through")).to_have_value(node)


# 3. one score, the tallies in words one click or hover away


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_each_post_shows_one_score_and_its_tallies_in_words(
    stack: Stack, board: SeededBoard, open_page, javascript: bool
):
    post = stack.api(f"/api/posts/{board.posts[3]}")["post"]
    page = open_page(javascript=javascript).page
    page.goto(f"/t/{post['topic']}?sort=new")
    row = page.locator(f"#post-{post['id']}")
    expect(row.locator(".score-value")).to_have_count(1)
    expect(row.locator(".score-value")).to_have_text(str(post["counted_score"]))
    up, down = post["upvotes"], post["downvotes"]
    words = _words(post)
    tally = row.locator(".tally")
    expect(tally).to_be_hidden()
    expect(row.locator(".score > summary")).to_have_attribute("title", words)  # on hover
    row.locator(".score > summary").click()
    expect(tally).to_be_visible()
    expect(tally).to_have_text(words)
    page.goto(f"/t/{post['topic']}?sort=new&lens=all")
    expect(page.locator(f"#post-{post['id']} .score-value")).to_have_text(str(post["score"]))
    every = f"{up} up, {down} down; the lens set by this link (all) counts every vote"  # issue 19.10
    expect(page.locator(f"#post-{post['id']} .tally")).to_have_text(every)


def test_a_new_voters_vote_is_told_apart_in_words_after_voting(stack: Stack, open_page):
    """A fresh browser key votes: the raw tally takes it, the default lens leaves it out and says why."""
    post_id = stack.post({"title": "A new voter's vote", "body": "Counted or not?"})
    stack.indexed(post_id)
    page = open_page().page
    page.goto(f"/posts/{post_id}")
    up = page.get_by_role("button", name=f"Upvote post {post_id}")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true", timeout=60_000)
    expect(up).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    post = stack.api(f"/api/posts/{post_id}")["post"]
    assert post["upvotes"] == 1 and post["counted_upvotes"] == 0, post
    expect(page.locator(f"#post-{post_id} .tally").first).to_have_text(_words(post))
    expect(page.locator(f"#post-{post_id} .tally").first).to_contain_text("1 voter was new to the board")
    expect(page.locator(f"#post-{post_id} .score-value").first).to_have_text("0")


# 4. threads like a forum


def test_replies_sit_right_under_the_post_and_reply_opens_an_inline_form(stack: Stack, board: SeededBoard, open_page):
    page = open_page().page
    page.goto(f"/posts/{board.thread}")
    expect(page.locator("form.compose")).to_have_count(0)  # no form between the post and its replies
    first_reply = page.locator("#replies ol.replies > li").first.locator("article.post").first
    expect(first_reply).to_be_visible()
    root_box = page.locator(".thread-root").bounding_box()
    reply_box = first_reply.bounding_box()
    assert root_box and reply_box and 0 <= reply_box["y"] - (root_box["y"] + root_box["height"]) < 80

    reply = page.locator(f"#post-{board.reply}")
    link = reply.get_by_role("link", name="Reply")
    link.click()
    form = page.locator(f"#reply-form-{board.reply} form.compose")
    expect(form).to_be_visible()
    expect(form.get_by_label("Your reply")).to_be_focused()
    # the form opens right under that reply, above its own replies
    assert reply.evaluate("el => el.nextElementSibling && el.nextElementSibling.id") == f"reply-form-{board.reply}"
    page.keyboard.type("never sent")
    page.keyboard.press("Escape")
    expect(form).to_have_count(0)
    expect(link).to_be_focused()
    link.click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("form.compose")).to_have_count(0)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_branch_folds_and_unfolds_with_its_count(stack: Stack, board: SeededBoard, open_page, javascript: bool):
    page = open_page(javascript=javascript).page
    page.goto(f"/posts/{board.thread}")
    first = page.locator("#replies > ol.replies > li").first
    fold = first.locator("> details.branch-fold > summary")
    expect(fold).to_have_text("hide 6 replies", use_inner_text=True)  # five nested here, one more past the depth
    nested = first.locator(f"#post-{board.reply}")
    expect(nested).to_be_visible()
    fold.click()
    expect(nested).to_be_hidden()
    expect(fold).to_have_text("show 6 replies", use_inner_text=True)
    fold.click()
    expect(nested).to_be_visible()


def test_past_the_depth_the_thread_continues_on_its_own_page(stack: Stack, board: SeededBoard, open_page):
    page = open_page(javascript=False).page
    page.goto(f"/posts/{board.thread}")
    more = page.get_by_role("link", name=re.compile(r"^continue this thread \(1 reply\)"))
    more.click()
    expect(page).to_have_url(re.compile(r"/posts/\d+#replies$"))
    expect(page.locator(".thread-context")).to_contain_text(f"thread {board.thread}")
    expect(page.locator("#replies article.post").first).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_replys_permalink_opens_the_thread_with_the_reply_highlighted(
    stack: Stack, board: SeededBoard, open_page, javascript: bool
):
    page = open_page(javascript=javascript).page
    page.goto(f"/authors/{stack.api(f'/api/posts/{board.reply}')['post']['author']}")
    link = page.locator(f"#post-{board.reply} a.permalink")
    expect(link).to_have_attribute("href", f"/posts/{board.thread}#post-{board.reply}")
    link.click()
    expect(page).to_have_url(re.compile(rf"/posts/{board.thread}#post-{board.reply}$"))
    reply = page.locator(f"#post-{board.reply}")
    expect(reply).to_be_in_viewport()
    outline = reply.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    if javascript:
        expect(reply).to_have_class(re.compile("is-highlighted"))


def test_a_permalink_to_a_reply_past_the_depth_opens_the_replys_own_page(stack: Stack, board: SeededBoard, open_page):
    page = open_page().page
    page.goto(f"/posts/{board.thread}#post-{board.deep}")
    expect(page).to_have_url(re.compile(rf"/posts/{board.deep}$"))
    expect(page.locator(f"#post-{board.deep}")).to_contain_text("one level further down")


# 10. every page: axe-core finds nothing, light and dark


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_axe_finds_no_violation_on_any_page(stack: Stack, board: SeededBoard, open_page, dark: bool):
    page = open_page(dark=dark).page
    paths = [
        "/",
        "/new?lens=all",
        f"/posts/{board.thread}",
        f"/posts/{board.deep}",
        "/compose",
        "/settings",
        "/status",
        "/key",
        "/topics",
        "/t/meta",
        "/search?q=bread",
        f"/authors/{stack.w3.eth.accounts[1]}",
    ]
    found = {}
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    page.goto(f"/posts/{board.thread}")
    page.locator(f"#post-{board.reply}").get_by_role("link", name="Reply").click()
    page.locator(f"#post-{board.reply} .score > summary").click()
    if violations := axe_violations(page):
        found["thread with a reply form and a tally open"] = violations
    assert not found, found


# 5. posting you can follow


def _welcomed(page: Page) -> None:
    page.evaluate("localStorage.setItem('indelible.welcomed', '1')")


def test_posting_shows_signing_sent_on_chain_and_shown(stack: Stack, open_page):
    page = open_page().page
    page.goto("/compose")
    _welcomed(page)
    page.get_by_label("Title").fill("Followed step by step")
    page.get_by_label("Body").fill("Each step in words.")
    page.get_by_role("button", name="Post", exact=True).click()
    page.wait_for_url(re.compile(r"/posts/\d+$"), timeout=30_000)
    post_id = int(page.url.rsplit("/", 1)[1])
    post = stack.api(f"/api/posts/{post_id}")["post"]
    log = status_log(page)
    steps = [
        "Signing with your browser key…",
        f"Sent: transaction {post['tx_hash'][:10]}…, relayed; waiting for a block…",
        f"On chain: block {post['block_number']}.",
        f"Shown on this node: post {post_id}, in block {post['block_number']}.",
    ]
    assert [text for text in log if text in steps] == steps, log
    expect(page.locator("#toasts")).to_contain_text(f"Post {post_id} is on chain in block {post['block_number']}")


def test_a_reply_shows_its_steps_in_the_inline_form(stack: Stack, board: SeededBoard, open_page):
    page = open_page().page
    page.goto(f"/posts/{board.thread}")
    _welcomed(page)
    page.locator(".thread-root").get_by_role("link", name="Reply").click()
    form = page.locator(f"#reply-form-{board.thread} form.compose")
    form.get_by_label("Your reply").fill("A reply whose steps you can follow.")
    form.get_by_role("button", name="Post reply").click()
    steps = form.locator("[data-post-steps] li")
    expect(steps.first).to_have_attribute("data-state", re.compile("active|done"))
    expect(page.locator("article.post", has_text="A reply whose steps you can follow.")).to_be_visible(timeout=30_000)
    log = status_log(page)
    assert any(text.startswith("Sent: transaction 0x") for text in log), log
    assert any(text.startswith("Shown on this node: post ") for text in log), log


def test_a_post_too_long_for_the_node_says_what_to_do(stack: Stack, open_page):
    watched = open_page()
    page = watched.page
    page.goto("/compose")
    _welcomed(page)
    page.get_by_label("Title").fill("Far too long")
    page.get_by_label("Body").fill("x" * 70_000)
    page.get_by_role("button", name="Post", exact=True).click()
    status = page.locator("form.compose .tx-status")
    expect(status).to_have_attribute("data-state", "error", timeout=30_000)
    expect(status).to_contain_text("Too long for this node")
    expect(status).to_contain_text("Shorten it and post again.")
    expect(page.locator("[data-post-steps] li[data-step=sign]")).to_have_attribute("data-state", "failed")
    expect(page.get_by_label("Body")).to_have_value("x" * 70_000)  # nothing lost
    watched.errors[:] = [e for e in watched.errors if "413" not in e]


def test_a_wallet_refusal_says_nothing_was_sent(stack: Stack, open_page):
    watched = open_page(wallet=stack.w3.eth.accounts[5])
    page = watched.page
    page.add_init_script(
        """
        const original = window.ethereum.request.bind(window.ethereum);
        window.ethereum.request = async (args) => {
          if (args.method === "eth_sendTransaction") {
            const error = new Error("User rejected the request.");
            error.code = 4001;
            throw error;
          }
          return original(args);
        };
        """
    )
    page.goto("/compose")
    _welcomed(page)
    page.get_by_label("Title").fill("Declined")
    page.get_by_role("button", name="Post", exact=True).click()
    status = page.locator("form.compose .tx-status")
    expect(status).to_have_text(
        "You declined in your wallet, so nothing was sent. Press the button again when you are ready.",
        timeout=30_000,
    )
    expect(page.locator("[data-post-steps] li[data-step=sign]")).to_have_attribute("data-state", "failed")


# 6. status in human terms


def test_status_reads_in_human_terms_with_the_raw_json_one_link_away(stack: Stack, board: SeededBoard, open_page):
    page = open_page(javascript=False).page
    stack.wait_for(lambda: stack.api("/api/status")["index"]["lag"] == 0, "the index to catch up")
    page.goto("/status")
    expect(page.locator(".status-headline")).to_have_text(
        re.compile(r"^\s*Caught up with the chain: block \d+, \d+ s ago\.\s*$")
    )
    content = stack.api("/api/status")["index"]["content"]
    found = content["pinned"] + content["invalid"]
    bar = page.locator("progress#content-progress")
    expect(bar).to_have_attribute("max", str(found + content["missing"]))
    expect(bar).to_have_attribute("value", str(found))
    expect(page.get_by_label(re.compile("Files found and checked"))).to_be_visible()
    counted = page.locator("dt", has_text="Counted").locator("xpath=following-sibling::dd")
    expect(counted).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(page.locator("main")).not_to_contain_text("1796")  # no raw unix time anywhere
    raw = page.get_by_role("link", name="Every field, raw, as JSON")
    expect(raw).to_have_attribute("href", "/api/status")
    assert httpx.get(stack.url + "/api/status", timeout=10).json()["index"]["content"] == content


# 7. first visit


def test_a_first_visit_explains_the_key_once_and_the_first_post_nudges_a_backup(stack: Stack, open_page):
    page = open_page().page
    page.goto("/")
    welcome = page.locator("[data-welcome]")
    expect(welcome).to_be_visible()
    expect(welcome).to_contain_text("makes a key in this browser")
    expect(welcome).to_contain_text("wallet extension")
    assert welcome.locator("p").first.inner_text().count(".") == 2  # two sentences
    welcome.get_by_role("button", name="Got it").click()
    expect(welcome).to_be_hidden()
    page.reload()
    expect(page.locator("[data-welcome]")).to_be_hidden()
    expect(page.locator("[data-key-nudge]")).to_be_hidden()

    page.goto("/compose")
    page.get_by_label("Title").fill("My first post")
    page.get_by_role("button", name="Post", exact=True).click()
    page.wait_for_url(re.compile(r"/posts/\d+$"), timeout=30_000)
    nudge = page.locator("[data-key-nudge]")
    expect(nudge).to_be_visible()
    nudge.get_by_role("link", name="Export your key").click()
    page.get_by_role("button", name="Show private key").click()
    page.goto("/")
    expect(page.locator("[data-key-nudge]")).to_be_hidden()


# 8. keyboard


def test_keys_move_open_vote_and_reply_but_never_while_typing(stack: Stack, board: SeededBoard, open_page):
    page = open_page().page
    page.goto("/new")
    _welcomed(page)
    page.reload()
    rows = page.locator("ol.feed article.post")
    first, second = rows.nth(0), rows.nth(1)
    page.keyboard.press("j")
    expect(first).to_have_class(re.compile("is-current"))
    expect(first).to_be_focused()
    page.keyboard.press("j")
    expect(second).to_have_class(re.compile("is-current"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile("is-current"))
    first_id = first.get_attribute("data-post-id")
    page.keyboard.press("u")
    up = first.locator(".vote-up")
    expect(up).to_have_attribute("aria-pressed", "true", timeout=30_000)
    expect(up).not_to_have_attribute("aria-busy", "true", timeout=30_000)

    page.keyboard.press("?")
    help_box = page.get_by_role("dialog", name="Keyboard")
    expect(help_box).to_be_visible()
    expect(help_box).to_contain_text("next post")
    page.keyboard.press("Escape")
    expect(help_box).to_be_hidden()

    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(rf"/posts/{first_id}$"))

    page.goto(f"/posts/{board.thread}")
    page.keyboard.press("j")
    page.keyboard.press("j")
    reply = page.locator("#replies article.post").first
    expect(reply).to_have_class(re.compile("is-current"))
    page.keyboard.press("r")
    box = page.locator(f"#reply-form-{reply.get_attribute('data-post-id')} textarea")
    expect(box).to_be_focused()
    page.keyboard.type("jk ud o?")
    expect(box).to_have_value("jk ud o?")
    expect(page.get_by_role("dialog", name="Keyboard")).to_have_count(0)
    expect(reply).to_have_class(re.compile("is-current"))
