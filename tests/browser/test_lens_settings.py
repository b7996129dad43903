"""The reader's settings in Chromium (issue 11): mute from a post, the settings page, export and import.

Settings live in the browser's localStorage and travel as parameters of the reader's own requests, so a
second browser context (another reader) sees the board unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import COLLAPSE_SCORE, Stack


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, int]:
    """A post by an author to mute, and a post the regulars fold by votes."""
    loud = stack.post({"title": "A loud author", "body": "Walruses everywhere, all day long."}, account=7)
    folded = stack.post({"title": "Folded by the regulars", "body": "Pelicans are overrated."}, account=8)
    for account in range(1, -COLLAPSE_SCORE + 1):
        stack.vote(folded, -1, account)
    stack.wait_for(lambda: stack.api(f"/api/posts/{folded}")["post"]["collapsed"], "the post to fold")
    stack.indexed(loud)
    return {"loud": loud, "folded": folded}


def test_mute_from_a_post_folds_it_muted_by_you_then_show_and_unmute(stack: Stack, seeded: dict[str, int], open_page):
    page = open_page().page
    page.goto(f"/posts/{seeded['loud']}")
    post = page.locator(f"#post-{seeded['loud']}")
    post.get_by_role("button", name="mute author").click()
    page.wait_for_url(f"**/posts/{seeded['loud']}?mute=*")
    summary = post.locator("details.collapsed > summary")
    expect(summary).to_contain_text("muted by you: show")
    expect(post.locator(".post-body")).not_to_be_visible()
    summary.click()
    expect(post.locator(".post-body")).to_contain_text("Walruses everywhere")

    page.goto("/new")  # every page the reader opens follows the settings: the front page too
    expect(page.locator(f"#post-{seeded['loud']} details.collapsed > summary")).to_contain_text("muted by you")
    page.locator(f"#post-{seeded['loud']}").get_by_role("button", name="unmute").click()
    page.wait_for_url("**/new")
    expect(page.locator(f"#post-{seeded['loud']} details.collapsed")).to_have_count(0)
    expect(page.locator(f"#post-{seeded['loud']} .post-title")).to_have_text("A loud author")


def test_settings_export_then_import_round_trip(stack: Stack, seeded: dict[str, int], open_page, tmp_path: Path):
    trusted, muted = stack.w3.eth.accounts[5], stack.w3.eth.accounts[7]
    page = open_page().page
    page.goto("/settings")
    page.get_by_label("Add an address (0x + 40 hex digits)").first.fill(trusted.lower())
    page.locator("[data-address-list=trust]").get_by_role("button", name="Add").click()
    page.locator("#mute-add").fill(muted)
    page.locator("[data-address-list=mute]").get_by_role("button", name="Add").click()
    page.get_by_role("radio", name="trusted").check()
    page.locator("#settings-fold").fill("-2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#settings-status")).to_have_text("Saved: lens trusted.")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export to a file").click()
    exported = tmp_path / "settings.json"
    download_info.value.save_as(exported)
    assert json.loads(exported.read_text()) == {"lens": "trusted", "fold": -2, "trust": [trusted], "mute": [muted]}

    other = open_page().page  # a fresh browser: nothing stored until the file comes in
    other.goto("/settings")
    expect(other.locator("[data-address-list=trust] [data-empty]")).to_be_visible()
    other.locator("#settings-import").set_input_files(str(exported))
    expect(other.locator("#settings-transfer-status")).to_have_text("Imported: lens trusted, 1 trusted, 1 muted.")
    expect(other.locator("[data-address-list=trust] [data-addresses]")).to_contain_text(trusted)
    expect(other.locator("[data-address-list=mute] [data-addresses]")).to_contain_text(muted)
    expect(other.get_by_role("radio", name="trusted")).to_be_checked()
    stored = other.evaluate("localStorage.getItem('indelible.reader')")
    assert json.loads(stored) == json.loads(exported.read_text())
    other.locator("[data-address-list=mute]").get_by_role("button", name=f"Remove {muted}").click()
    expect(other.locator("[data-address-list=mute] [data-empty]")).to_be_visible()


def test_the_trusted_lens_changes_what_this_reader_sees_and_not_another_reader(
    stack: Stack, seeded: dict[str, int], open_page
):
    reader = open_page().page
    reader.goto("/settings")
    reader.locator("#trust-add").fill(stack.w3.eth.accounts[6])  # a voter who did not vote on the folded post
    reader.locator("[data-address-list=trust]").get_by_role("button", name="Add").click()
    reader.get_by_role("radio", name="trusted").check()
    reader.get_by_role("button", name="Save").click()
    expect(reader.locator("#settings-status")).to_have_text("Saved: lens trusted.")
    reader.goto(f"/posts/{seeded['folded']}")
    reader.wait_for_url(f"**/posts/{seeded['folded']}?trust=*")
    post = reader.locator(f"#post-{seeded['folded']}")
    expect(post.locator(".post-body")).to_contain_text("Pelicans are overrated")
    expect(post.locator(".tally").first).to_contain_text("your lens (trusted) counts 0 up, 0 down")

    another = open_page().page
    another.goto(f"/posts/{seeded['folded']}")
    expect(another.locator(f"#post-{seeded['folded']} details.collapsed > summary")).to_contain_text("folded by votes")
    expect(another.locator(".lens-line")).to_have_text("lens: default · change")


def test_mute_and_unmute_from_a_search_result(stack: Stack, seeded: dict[str, int], open_page):
    page = open_page().page
    page.goto("/search?q=walruses")
    result = page.locator(f"#post-{seeded['loud']}")
    result.get_by_role("button", name="mute author").click()
    page.wait_for_url("**/search?q=walruses&mute=*")
    expect(result.locator("details.collapsed > summary")).to_contain_text("muted by you: show")
    result.get_by_role("button", name="unmute").click()
    page.wait_for_url("**/search?q=walruses")
    expect(result.locator("details.collapsed")).to_have_count(0)
    expect(result.get_by_role("button", name="mute author")).to_be_visible()
