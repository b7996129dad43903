"""Reading needs no JavaScript: every page renders on the server, links its JSON twin, sends a strict CSP."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import COLLAPSE_SCORE, Stack


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, int]:
    """A post with a reply, a folded reply and a post whose content is missing."""
    top = stack.post(
        {"title": "Reading without scripts", "body": "Plain **Markdown** with a [link](https://example.org)."}
    )
    reply = stack.post({"body": "A first reply."}, parent_id=top, account=1)
    folded = stack.post({"body": "This reply gets folded."}, parent_id=top, account=2)
    missing = stack.post_digest("0x" + "ab" * 32, account=3)
    for account in range(1, -COLLAPSE_SCORE + 1):
        stack.vote(folded, -1, account)
    stack.wait_for(lambda: stack.api(f"/api/posts/{folded}")["post"]["collapsed"], "the reply to fold")
    stack.indexed(missing)
    return {"top": top, "reply": reply, "folded": folded, "missing": missing}


@pytest.mark.parametrize(
    ("path", "twin"),
    [
        ("/", "/api/posts?sort=hot"),
        ("/new", "/api/posts?sort=new"),
        ("/top", "/api/posts?sort=top"),
        ("/controversial", "/api/posts?sort=controversial"),
        ("/status", "/api/status"),
        ("/compose", "/api/contract"),
        ("/key", "/api/contract"),
    ],
)
def test_every_page_links_its_json_twin(stack: Stack, seeded: dict[str, int], path: str, twin: str, open_page):
    page = open_page(javascript=False).page
    response = page.goto(path)
    assert response is not None and response.status == 200
    link = page.get_by_role("link", name="This data as JSON")
    expect(link).to_have_attribute("href", twin)
    assert httpx.get(stack.url + twin, timeout=10).status_code == 200


def test_pages_send_a_strict_content_security_policy(stack: Stack, seeded: dict[str, int]):
    for path in ("/", f"/posts/{seeded['top']}", "/status"):
        policy = httpx.get(stack.url + path, timeout=10).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_thread_reads_without_javascript_with_folded_reply_one_click_away(
    stack: Stack, seeded: dict[str, int], open_page
):
    page = open_page(javascript=False).page
    page.goto(f"/posts/{seeded['top']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reading without scripts")
    expect(page.locator(f"#post-{seeded['top']} .post-body strong")).to_have_text("Markdown")
    expect(page.locator(f"#post-{seeded['reply']}")).to_contain_text("A first reply.")
    folded = page.locator(f"#post-{seeded['folded']}")
    expect(folded.locator("details.collapsed > summary")).to_contain_text("folded by votes: show")
    expect(folded.get_by_text("This reply gets folded.")).to_be_hidden()
    folded.locator("details.collapsed > summary").click()
    expect(folded.get_by_text("This reply gets folded.")).to_be_visible()
    expect(page.get_by_role("link", name="This data as JSON")).to_have_attribute("href", f"/api/posts/{seeded['top']}")


def test_on_chain_proof_is_one_click_away(stack: Stack, seeded: dict[str, int], open_page):
    page = open_page(javascript=False).page
    page.goto(f"/posts/{seeded['top']}")
    post = stack.api(f"/api/posts/{seeded['top']}")["post"]
    proof = page.locator(f"#post-{seeded['top']} details.proof").first
    proof.locator("summary").click()
    expect(proof).to_contain_text(str(post["block_number"]))
    expect(proof).to_contain_text(post["tx_hash"])
    expect(proof.get_by_role("link", name=post["cid"])).to_have_attribute("href", f"/ipfs/{post['cid']}")
    time = page.locator(f"#post-{seeded['top']} time").first
    expect(time).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))


def test_missing_content_says_so(stack: Stack, seeded: dict[str, int], open_page):
    page = open_page(javascript=False).page
    page.goto(f"/posts/{seeded['missing']}")
    expect(page.locator(".content-missing")).to_be_visible()


def test_author_page_lists_posts_and_links_its_twin(stack: Stack, seeded: dict[str, int], open_page):
    author = stack.w3.eth.accounts[1]
    page = open_page(javascript=False).page
    page.goto(f"/authors/{author}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(author)
    expect(page.locator(f"#post-{seeded['reply']}")).to_contain_text("A first reply.")
    expect(page.get_by_role("link", name="This data as JSON")).to_have_attribute("href", f"/api/authors/{author}")


def test_status_page_shows_chain_contract_lag_and_content(stack: Stack, seeded: dict[str, int], open_page):
    page = open_page(javascript=False).page
    page.goto("/status")
    status = stack.api("/api/status")
    expect(page.locator("#status")).to_contain_text(status["contract_address"])
    for label in ("Chain id", "Lag", "Newest block", "Counted"):
        expect(page.locator("#status dt", has_text=label).first).to_be_visible()
    expect(page.locator("#content-progress")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("not found yet")


def test_unknown_post_is_a_404_page(stack: Stack, open_page):
    watched = open_page(javascript=False)
    response = watched.page.goto("/posts/999999")
    assert response is not None and response.status == 404
    expect(watched.page.get_by_role("heading", level=1)).to_have_text("Not found")
    # the browser logs the 404 it was asked for; that one is expected
    assert len(watched.errors) == 1 and "404" in watched.errors[0]
    watched.errors.clear()


def test_front_page_tabs_and_cursor_pages_work_without_javascript(stack: Stack, open_page):
    made = [stack.post({"title": f"Page filler {n}", "body": ""}, account=n % 5) for n in range(26)]
    stack.indexed(made[-1])
    page = open_page(javascript=False).page
    page.goto("/")
    tabs = page.get_by_role("navigation", name="Sort posts")
    expect(tabs.get_by_role("link", name="Hot", exact=True)).to_have_attribute("aria-current", "page")
    page.get_by_role("navigation", name="Sort posts").get_by_role("link", name="New").click()
    expect(page).to_have_url(re.compile(r"/new$"))
    first_ids = page.locator("ol.feed article.post").evaluate_all("els => els.map(e => e.dataset.postId)")
    assert first_ids[0] == str(made[-1]) and len(first_ids) == 25
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"/new\?cursor="))
    second_ids = page.locator("ol.feed article.post").evaluate_all("els => els.map(e => e.dataset.postId)")
    assert second_ids and not set(second_ids) & set(first_ids)
    assert int(second_ids[0]) < int(first_ids[-1])
    twin = page.get_by_role("link", name="This data as JSON").get_attribute("href")
    assert twin is not None and twin.startswith("/api/posts?sort=new&cursor=")
    assert [
        str(p["id"])
        for p in stack.api(twin.split("?")[0], **dict(part.split("=", 1) for part in twin.split("?")[1].split("&")))[
            "posts"
        ]
    ] == second_ids
    page.get_by_role("link", name="First page").click()
    expect(page).to_have_url(re.compile(r"/new$"))


def test_unknown_url_and_bad_path_are_html_pages_for_browsers(stack: Stack, open_page):
    watched = open_page(javascript=False)
    response = watched.page.goto("/no/such/page")
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(watched.page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(watched.page.get_by_text("No page here")).to_be_visible()
    response = watched.page.goto("/posts/not-a-number")
    assert response is not None and response.status == 422
    expect(watched.page.get_by_role("heading", level=1)).to_have_text("Bad request")
    # the browser logs the two error statuses it was asked for; those are expected
    assert len(watched.errors) == 2
    watched.errors.clear()
    api = httpx.get(f"{stack.url}/no/such/page", headers={"Accept": "application/json"}, timeout=5)
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
