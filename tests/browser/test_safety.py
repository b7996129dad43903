"""Hostile content never runs: XSS payloads in titles and bodies, raw HTML, javascript: links, invalid documents."""

from __future__ import annotations

import hashlib
import re

from playwright.sync_api import Page, expect

from backend.content.pins import PinStore
from tests.support.browser import Stack

TITLE = '<script>window.__xss="title"</script><img src=x onerror="window.__xss=\'title-img\'">'
BODY = "\n\n".join(
    [
        '<script>window.__xss="script"</script>',
        "<img src=x onerror=\"window.__xss='img'\">",
        "[markdown link](javascript:window.__xss='md-link')",
        "<a href=\"javascript:window.__xss='raw-link'\">raw link</a>",
        "![kitten](javascript:window.__xss='image')",
        "![remote kitten](https://example.org/kitten.png)",
        "<svg onload=\"window.__xss='svg'\"></svg>",
        "<iframe src=\"javascript:window.__xss='iframe'\"></iframe>",
        "<details open ontoggle=\"window.__xss='toggle'\">x</details>",
        "[data link](data:text/html,<script>alert(1)</script>)",
        "<style>body{display:none}</style>",
        'A [fine link](https://example.org "safe") stays.',
    ]
)


def _assert_inert(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    main = page.locator("main")
    assert main.locator("script, iframe, svg, img, style, object, embed").count() == 0
    handlers = main.evaluate(
        "m => [...m.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(n => n.startsWith('on'))"
    )
    assert handlers == []
    hrefs = main.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert all(re.match(r"^(https?:|mailto:|/|#)", href) for href in hrefs), hrefs


def test_xss_payloads_in_title_and_body_never_run(stack: Stack, open_page):
    watched = open_page()
    page = watched.page
    page.goto("/compose")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Body").fill(BODY)
    _assert_inert(page)  # the live preview too
    page.get_by_role("button", name="Post", exact=True).click()
    page.wait_for_url(re.compile(r"/posts/\d+$"), timeout=30_000)
    post_id = int(page.url.rsplit("/", 1)[1])

    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    body = page.locator(f"#post-{post_id} .post-body")
    expect(body).to_contain_text('<script>window.__xss="script"</script>')
    expect(body).to_contain_text("![kitten](javascript:")  # not a link at all
    expect(body.get_by_role("link", name="image: remote kitten")).to_have_attribute(
        "href", "https://example.org/kitten.png"
    )
    fine = body.get_by_role("link", name="fine link")
    expect(fine).to_have_attribute("href", "https://example.org")
    expect(fine).to_have_attribute("rel", "nofollow noopener ugc")
    _assert_inert(page)

    page.locator(".thread-root a.reply-link").click()
    form = page.locator("form.compose").first
    form.get_by_label("Your reply").fill(BODY)
    form.get_by_role("button", name="Post reply").click()
    expect(page.locator("ol.replies article.post")).to_have_count(1, timeout=30_000)
    _assert_inert(page)

    for path in ("/", "/new", f"/authors/{stack.api(f'/api/posts/{post_id}')['post']['author']}"):
        page.goto(path)
        _assert_inert(page)
    page.goto(f"/posts/{post_id}")
    for link in page.locator(f"#post-{post_id} .post-body a:not([href])").all():
        link.click()
    _assert_inert(page)
    assert watched.dialogs == []


def test_invalid_content_shows_as_invalid_never_as_the_post(stack: Stack, open_page):
    data = b'<script>window.__xss="invalid"</script>{"title": "Looks like a post"}'
    PinStore(stack.data_dir / "content").put(data)
    post_id = stack.post_digest("0x" + hashlib.sha256(data).hexdigest())
    stack.wait_for(
        lambda: stack.api(f"/api/posts/{post_id}")["post"]["content_status"] == "invalid", "the content to be invalid"
    )
    page = open_page().page
    for path in (f"/posts/{post_id}", "/new"):
        page.goto(path)
        post = page.locator(f"article#post-{post_id}")
        expect(post.locator(".content-invalid").first).to_be_visible()
        expect(post).not_to_contain_text("Looks like a post")
        expect(post).not_to_contain_text("script")
        _assert_inert(page)
