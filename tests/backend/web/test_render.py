"""Inlined partials render what the includes did (issue 25.2): every page, byte for byte, on both engines.

``backend.web.render`` inlines each ``{% include %}`` into the including template and reads a dict's keys
without a failed ``getattr`` first. Each page here is rendered by the app (inlined) and again by a plain Jinja
environment over the same templates (includes, Jinja's own lookups), with the clock held still: the two must
be the same bytes. The board has what the partials branch on: a hostile title and bodies, a reply thread
three deep, a post folded by votes, a post whose content never arrived, a topic, lenses and mutes in the URL.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.templating import Jinja2Templates
from fastapi.testclient import TestClient
from jinja2 import TemplateNotFound
from markupsafe import Markup, escape
from web3 import Web3

from backend.app import create_app
from backend.content.pins import PinStore
from backend.web import filters, render
from tests.support.index import DATABASES, make_settings, module_index, wait_indexed

HOSTILE_TITLE = "<script>alert('t')</script> & \"quoted\""
HOSTILE_BODY = "**bold** <img src=x onerror=alert(1)> [link](javascript:alert(1)) `<b>`"


@dataclass
class World:
    """The module's app, the ids it created and one author's address."""

    client: TestClient
    ids: dict[str, int]
    author: str


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Posts, a thread, votes that fold one post, a post without content, a topic."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "render")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)
    ids = {"hostile": board.post_document(pins, HOSTILE_TITLE, HOSTILE_BODY, topic="tide-pools")}
    ids["plain"] = board.post_document(pins, "Plain", "Just a post", sender=1)
    ids["folded"] = board.post_document(pins, "Folded", "Voted down", sender=2)
    ids["missing"] = board.post(os.urandom(32))
    ids["reply"] = board.post_document(pins, None, HOSTILE_BODY, ids["hostile"], sender=1)
    ids["nested"] = board.post_document(pins, None, "Agreed <b>", ids["reply"], sender=2)
    ids["deeper"] = board.post_document(pins, None, "Deeper", ids["nested"])
    ids["sibling"] = board.post_document(pins, None, "Another reply", ids["hostile"], sender=3)
    for voter in range(1, 6):
        board.vote(ids["folded"], -1, accounts[voter])
    board.vote(ids["hostile"], 1, accounts[4])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, ids, accounts[0])


def page_paths(world: World) -> list[str]:
    """Every page kind, with and without lens, fold, trust and mute in the link."""
    ids, author = world.ids, world.author
    return [
        "/",
        "/new",
        "/top?window=week",
        "/controversial",
        "/?lens=all",
        "/?fold=10",
        f"/?lens=trusted&trust={author}",
        f"/?mute={author}",
        f"/posts/{ids['hostile']}",
        f"/posts/{ids['hostile']}?fold=0&mute={author}",
        f"/posts/{ids['nested']}",
        f"/posts/{ids['missing']}",
        f"/posts/{ids['folded']}?lens=new",
        f"/authors/{author}",
        f"/authors/{author}?lens=all&fold=1",
        "/search",
        "/search?q=alert",
        "/search?q=%22just+a%22&sort=new",
        "/t/tide-pools",
        "/t/tide-pools?sort=top&x=%3Cb%3E",
        "/topics",
        f"/inbox?address={author}",
        "/inbox",
        "/compose",
        f"/compose?parent={ids['reply']}",
        "/settings",
        "/key",
        "/status",
        "/posts/999999",
        "/?cursor=%3Cscript%3E",
    ]


@pytest.fixture
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """'3 minutes ago' stays what it was between the two renders of a page."""
    now = time.time()
    monkeypatch.setattr(filters, "time", types.SimpleNamespace(time=lambda: now, gmtime=time.gmtime))


@pytest.mark.parametrize("cookie", [None, "all"])
def test_every_page_renders_the_same_bytes_inlined_as_with_includes(
    world: World, still_clock: None, monkeypatch: pytest.MonkeyPatch, cookie: str | None
):
    world.client.cookies.clear()
    if cookie:
        world.client.cookies.set("lens", cookie)
    plain = Jinja2Templates(env=render.make_environment(inline=False))
    assert not isinstance(plain.env.loader, render.InliningLoader)
    statuses = set()
    for path in page_paths(world):
        inlined = world.client.get(path)
        with monkeypatch.context() as patch:
            patch.setattr(render.templates, "env", plain.env)
            included = world.client.get(path)
        statuses.add(inlined.status_code)
        assert inlined.status_code == included.status_code, path
        assert inlined.text == included.text, path
    assert statuses == {200, 404, 422}
    world.client.cookies.clear()


def test_the_board_is_rendered_escaped_with_every_post_reachable(world: World):
    front = world.client.get("/").text
    assert HOSTILE_TITLE not in front and "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in front
    for name in ("hostile", "plain", "folded", "missing"):
        assert f'id="post-{world.ids[name]}"' in front
    every_vote = world.client.get("/?lens=all").text  # the default lens leaves out voters new to the board
    assert every_vote.count('<details class="collapsed">') == 1  # the folded post is there, behind "show"
    assert f'id="post-{world.ids["folded"]}"' in every_vote
    thread = world.client.get(f"/posts/{world.ids['hostile']}").text
    assert "<img" not in thread and 'href="javascript:' not in thread and "&lt;img src=x onerror" in thread
    for name in ("reply", "nested", "deeper", "sibling"):
        assert f'data-post-id="{world.ids[name]}"' in thread


def test_the_loader_inlines_includes_and_notices_an_edited_partial(tmp_path: Path):
    (tmp_path / "page.html").write_text('<p>{% set x = 1 %}{% include "_part.html" %}{{ x }}</p>\n')
    (tmp_path / "_part.html").write_text("{% set x = 2 %}[{{ x }} {{ item.name }}]\n")
    loader = render.InliningLoader(str(tmp_path))
    loader.recheck_seconds = 0  # every look at the files (else at most once a second)
    env = render.PageEnvironment(loader=loader, autoescape=True)
    source, _filename, uptodate = env.loader.get_source(env, "page.html")  # type: ignore[union-attr]
    assert source == "<p>{% set x = 1 %}{% with %}{% set x = 2 %}[{{ x }} {{ item.name }}]{% endwith %}{{ x }}</p>\n"
    assert env.get_template("page.html").render(item={"name": "<a>"}) == "<p>[2 &lt;a&gt;]1</p>"
    assert uptodate()
    part = tmp_path / "_part.html"
    part.write_text("({{ item.items }})\n")
    os.utime(part, (time.time() + 5, time.time() + 5))
    assert not uptodate()
    # a dict's method is still the method, as in Jinja; a key no attribute shadows is the key
    assert env.get_template("page.html").render(item={"items": "key"}).startswith("<p>(&lt;built-in method items")
    assert env.from_string("{{ d.missing is undefined }} {{ d.get('k') }}").render(d={"k": 1, "get": 2}) == "True 1"


def test_an_edit_is_looked_for_at_most_once_a_second(tmp_path: Path):
    (tmp_path / "page.html").write_text("one")
    env = render.PageEnvironment(loader=render.InliningLoader(str(tmp_path)), auto_reload=True)
    assert env.get_template("page.html").render() == "one"
    (tmp_path / "page.html").write_text("two")
    os.utime(tmp_path / "page.html", (time.time() + 5, time.time() + 5))
    assert env.get_template("page.html").render() == "one"  # within the second: not looked at
    time.sleep(1.05)
    assert env.get_template("page.html").render() == "two"


def test_a_template_that_includes_itself_is_refused(tmp_path: Path):
    (tmp_path / "loop.html").write_text('{% include "loop.html" %}')
    env = render.PageEnvironment(loader=render.InliningLoader(str(tmp_path)))
    with pytest.raises(TemplateNotFound, match="includes itself"):
        env.get_template("loop.html")


@pytest.mark.parametrize(
    "value",
    ["", "plain", "<script>&\"'</script>", "&amp; already", "é ▲ \u2028", 0, -7, 10**30, True, None, 1.5,
     Markup("<b>kept</b>"), ["<a>"]],
)  # fmt: skip
def test_an_output_is_escaped_as_markupsafe_escapes_it(value: object):
    assert render._escape_output(value) == str(escape(value))
    if isinstance(value, str) and not isinstance(value, Markup):
        assert render._replace_escape(value) == str(escape(value))


def test_a_block_and_the_template_extended_are_joined_once(tmp_path: Path):
    (tmp_path / "base.html").write_text("<main>{% block content %}{% endblock %}</main>{% block tail %}!{% endblock %}")
    (tmp_path / "page.html").write_text('{% extends "base.html" %}{% block content %}{{ x }} {{ 3 }}{% endblock %}')
    env = render.PageEnvironment(loader=render.InliningLoader(str(tmp_path)), autoescape=True)
    for name in ("base.html", "page.html"):
        source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
        assert "yield from" not in str(env.compile(source, name, raw=True))
    assert env.get_template("page.html").render(x="<&>") == "<main>&lt;&amp;&gt; 3</main>!"
    assert list(env.get_template("page.html").generate(x="a")) == ["<main>a 3</main>!"]  # one piece
