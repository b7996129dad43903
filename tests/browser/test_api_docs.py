"""The API docs, /docs and /redoc, render every operation from this origin alone, under their CSP."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import VENDOR, Stack, Watched

# Every CSP violation, kept in the page: a console message alone could be missed or worded differently.
VIOLATION_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
});
"""
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")


@pytest.fixture(scope="module")
def operations(stack: Stack) -> list[tuple[str, str]]:
    """(method, path) of every operation in /openapi.json."""
    missing = [name for name in DOCS_FILES if not (VENDOR / name).exists()]
    if missing:
        pytest.fail(f"{VENDOR} lacks {', '.join(missing)}: run `make vendor` (it copies them from node_modules)")
    spec = stack.api("/openapi.json")
    found = [(method.upper(), path) for path, item in spec["paths"].items() for method in item]
    assert len(found) >= 10, found
    return found


def _open_watched(open_page: Callable[..., Watched], stack: Stack, path: str) -> tuple[Watched, list[str]]:
    watched = open_page()
    watched.context.add_init_script(VIOLATION_RECORDER)
    requested: list[str] = []
    watched.page.on("request", lambda request: requested.append(request.url))
    response = watched.page.goto(path)
    assert response is not None and response.status == 200
    return watched, requested


def _assert_local_only(stack: Stack, watched: Watched, requested: list[str]) -> None:
    violations = watched.page.evaluate("window.__cspViolations")
    assert violations == [], "\n".join(violations)
    origin = urlsplit(stack.url).netloc
    fetched = [url for url in requested if urlsplit(url).scheme not in ("data", "blob")]
    elsewhere = [url for url in fetched if urlsplit(url).netloc != origin]
    assert elsewhere == [], f"requests off this origin: {elsewhere}"
    assert all(urlsplit(url).hostname in (None, "", "127.0.0.1") for url in requested)


def test_swagger_ui_shows_every_operation_loaded_from_this_origin_alone(
    stack: Stack, operations: list[tuple[str, str]], open_page
):
    watched, requested = _open_watched(open_page, stack, "/docs")
    page = watched.page
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations), timeout=30_000)
    expect(page.locator(".opblock-summary-path[data-path='/api/posts']").first).to_be_visible()
    shown = {(b.locator(".opblock-summary-method").inner_text(), b.get_attribute("id")) for b in blocks.all()}
    assert len(shown) == len(operations)
    _assert_local_only(stack, watched, requested)
    assert any(url.endswith("/static/vendor/swagger-ui-bundle.js") for url in requested)


def test_swagger_ui_try_it_out_calls_the_api_on_this_origin(stack: Stack, operations: list[tuple[str, str]], open_page):
    watched, requested = _open_watched(open_page, stack, "/docs")
    page = watched.page
    status_block = page.locator(".opblock-summary-path[data-path='/api/status']").first
    status_block.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200", timeout=20_000)
    assert any(urlsplit(url).path == "/api/status" for url in requested)
    _assert_local_only(stack, watched, requested)


def test_redoc_shows_every_operation_loaded_from_this_origin_alone(
    stack: Stack, operations: list[tuple[str, str]], open_page
):
    watched, requested = _open_watched(open_page, stack, "/redoc")
    page = watched.page
    sections = page.locator("[data-section-id^='operation/']")
    expect(sections).to_have_count(len(operations), timeout=60_000)
    expect(page.get_by_role("heading", name="Indelible").first).to_be_visible()
    _assert_local_only(stack, watched, requested)
    assert any(url.endswith("/static/vendor/redoc.standalone.js") for url in requested)


def test_redoc_search_finds_an_operation_through_its_worker(stack: Stack, operations: list[tuple[str, str]], open_page):
    watched, requested = _open_watched(open_page, stack, "/redoc")
    page = watched.page
    expect(page.locator("[data-section-id^='operation/']")).to_have_count(len(operations), timeout=60_000)
    page.get_by_placeholder("Search...").fill("status")
    found = page.get_by_role("search").get_by_role("menuitem", name="Get Status")
    expect(found).to_be_visible(timeout=20_000)
    _assert_local_only(stack, watched, requested)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_pages_allow_no_inline_script_and_no_eval(stack: Stack, path: str):
    response = httpx.get(stack.url + path, timeout=10)
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    assert "<script>" not in response.text and "cdn" not in response.text.lower()
