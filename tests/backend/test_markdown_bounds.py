"""Markdown rendering is bounded (deadline, HTML cap, pipe cap) and cached by the post's digest."""

from __future__ import annotations

import gc
import secrets
import sys
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend import markdown
from tests.support.board import BoardHandle
from tests.support.wait import wait_for

SIZE = 64 * 1024 - 100
CRAFTED = {
    "unclosed image openers": "![" * (SIZE // 2),
    "unclosed link openers": "[<" * (SIZE // 2),
    "emphasis runs": "*_" * (SIZE // 2),
}


@pytest.mark.parametrize("body", CRAFTED.values(), ids=CRAFTED.keys())
def test_crafted_body_renders_as_escaped_plain_text_within_its_budget(body: str):
    began = markdown._render_clock()
    html = markdown.render(body)
    spent = markdown._render_clock() - began  # the clock of the budget: CPU time less garbage collections'
    assert html == markdown.plain(body)
    assert "<a" not in html and "&lt;" in html if "<" in body else True
    # the deadline plus what one step, rendering and sanitising may add (the unbounded render takes 0.5-1.4 s)
    assert spent < markdown.RENDER_SECONDS + 0.25


def _inside(code: object) -> bool:
    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None


@pytest.fixture
def slow_collection() -> Iterator[list[float]]:
    """The next collection inside a render costs 0.4 s of CPU, as a gen-2 pass over a test worker's heap did in CI."""
    burnt: list[float] = []

    def burn(phase: str, _info: dict[str, int]) -> None:
        if phase == "start" and not burnt and _inside(markdown.render.__code__):
            began = time.thread_time()
            while time.thread_time() - began < 2 * markdown.RENDER_SECONDS:
                pass
            burnt.append(time.thread_time() - began)

    threshold = gc.get_threshold()
    gc.callbacks.append(burn)
    gc.set_threshold(1)  # a collection at the render's first allocations
    try:
        yield burnt
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(burn)


def test_a_garbage_collection_mid_render_does_not_count_against_the_budget(slow_collection: list[float]):
    # CI once showed "Body **1**\n- one\n- two" as plain text: a collection inside the render spent the budget
    body = f"Body **1** {secrets.token_hex(4)}\n- one\n- two"
    html = markdown.render(body)
    assert slow_collection and slow_collection[0] > markdown.RENDER_SECONDS  # the slow collection ran inside it
    assert html.startswith("<p>Body <strong>1</strong>") and "<li>one</li>" in html


def test_plain_text_fallback_escapes_markup():
    body = '<script>alert("x")</script>\n\n' + "![" * (SIZE // 2)
    html = markdown.render(body)
    assert html.startswith("<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p><p>![![")
    assert "<script" not in html


def test_ordinary_body_still_renders_as_markdown():
    body = "Some *emphasis* and a [link](https://example.com).\n\n" * 200
    html = markdown.render(body)
    assert html.count("<em>") == 200
    assert 'href="https://example.com"' in html


def test_table_rule_is_skipped_past_the_pipe_cap():
    small = "|a|b|\n|-|-|\n|1|2|\n"
    assert "<table>" in markdown.render(small)
    huge = small + "x|" * markdown.MAX_TABLE_PIPES
    html = markdown.render(huge)
    assert "<table>" not in html and "|a|b|" in html


def test_html_over_the_cap_falls_back_to_plain_text():
    body = "[]()" * (SIZE // 4)  # 16,000 empty links: about 245 KB of HTML
    assert markdown.render(body, seconds=60, max_html=200_000) == markdown.plain(body)
    assert markdown.render(body, seconds=60, max_html=300_000).count("<a ") == SIZE // 4


def test_cache_renders_a_digest_once():
    cache = markdown.RenderCache(size=2)
    first = cache.render("0x01", "*one*")
    assert cache.render("0x01", "*one*") == first == "<p><em>one</em></p>\n"
    assert (cache.hits, cache.misses) == (1, 1)
    cache.render("0x02", "two")
    cache.render("0x03", "three")  # 0x01 is the least recently used: dropped
    cache.render("0x01", "*one*")
    assert (cache.hits, cache.misses) == (1, 4)


def test_thread_page_renders_each_body_once(client: TestClient, board: BoardHandle):
    body = f"A *unique* body for the page cache test {secrets.token_hex(8)}"  # not cached by an earlier run
    digest = client.post(
        "/api/content", content=f'{{"title": "t", "body": "{body}"}}', headers={"Content-Type": "application/json"}
    ).json()["digest"]
    post_id = board.post(bytes.fromhex(digest[2:]))
    wait_for(lambda: client.get(f"/api/posts/{post_id}").json().get("post", {}).get("content_status") == "pinned")
    misses = markdown.CACHE.misses
    for _ in range(3):
        assert "<em>unique</em>" in client.get(f"/posts/{post_id}", headers={"Accept": "text/html"}).text
    assert markdown.CACHE.misses == misses + 1


# Python's punycode codec decodes these labels to lone surrogates (U+D800, U+DFFF), which nh3 cannot take: an
# autolink or bare URL naming one raised UnicodeEncodeError, and every page showing the post answered 500
SURROGATE_HOSTS = [
    "<http://xn--a-rc4g.x>",
    "http://xn--a-rc4g.x",
    "<mailto:a@xn--a-rc4g.x>",
    "x https://xn--zy0c.y/p",
    "http://a.xn--ab-rv1l.b",
]


@pytest.mark.parametrize("body", SURROGATE_HOSTS)
def test_a_host_whose_punycode_decodes_to_a_surrogate_is_shown_as_written(body: str):
    html = markdown.render(body)
    host = body.split("//")[-1].split("@")[-1].rstrip(">").split("/")[0]
    assert f">{body.split()[-1].strip('<>')}</a>" in html and host in html
    html.encode("utf-8")  # no lone surrogate left


def test_the_other_hosts_of_such_a_link_stay_as_written_too_and_a_fine_one_is_still_decoded():
    html = markdown.render("<http://xn--a-rc4g.xn--bcher-kva.x/p> and https://xn--bcher-kva.example/")
    assert ">http://xn--a-rc4g.xn--bcher-kva.x/p</a>" in html  # the host is decoded whole or not at all
    assert ">https://b\u00fccher.example/</a>" in html


@pytest.mark.parametrize("stage", ["parse", "sanitise"])
def test_a_body_that_trips_an_unknown_bug_is_plain_text_not_an_error(
    stage: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def broken(*_args: object) -> str:
        raise ValueError("a bug a crafted body found")

    if stage == "parse":
        monkeypatch.setattr(markdown._PostMarkdown, "parse", broken)
    else:
        monkeypatch.setattr(markdown, "sanitise", broken)
    assert markdown.render("*a* <b>") == markdown.plain("*a* <b>") == "<p>*a* &lt;b&gt;</p>"
    assert "shown as plain text" in caplog.text


def test_html_holding_a_lone_surrogate_by_any_other_path_is_plain_text(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(markdown._PostMarkdown, "normalizeLinkText", lambda self, link: "\ud800")
    assert markdown.render("<http://e.x>") == markdown.plain("<http://e.x>")


def test_a_post_linking_a_surrogate_host_shows_on_its_page(client: TestClient, board: BoardHandle):
    body = f"see http://xn--a-rc4g.x {secrets.token_hex(8)}"
    digest = client.post(
        "/api/content", content=f'{{"title": "t", "body": "{body}"}}', headers={"Content-Type": "application/json"}
    ).json()["digest"]
    post_id = board.post(bytes.fromhex(digest[2:]))
    wait_for(lambda: client.get(f"/api/posts/{post_id}").json().get("post", {}).get("content_status") == "pinned")
    for path in (f"/posts/{post_id}", "/new", f"/feeds/posts/{post_id}.atom"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, path
    assert ">http://xn--a-rc4g.x</a>" in client.get(f"/posts/{post_id}").text
