"""The compose preview and the server render Markdown by one rule set (backend/static/markdown-rules.json)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from backend.markdown import ALLOWED_TAGS, RULES, URL_SCHEMES, render
from tests.support.browser import Watched

DOCUMENTS = {
    "headings": "# One\n\n## Two\n\n### Three\n\n#### Four\n\n###### Six",
    "inline": "Some *em*, **strong**, ~~struck~~ and `code` with a line  \nbreak.",
    "blocks": "3. three\n4. four\n\n- a\n- b\n\n> quoted\n\n---\n\n```\nfenced <b>\n```",
    "links": '[titled](https://example.org "a title") [mail](mailto:a@example.org) [relative](/posts/1)',
    "image": "![a kitten](https://example.org/kitten.png) and ![](https://example.org/x.png)",
    "raw html": "<script>alert(1)</script>\n\ntext <b>bold?</b> <img src=x onerror=alert(1)>",
    "table": "| a | b |\n| --- | --- |\n| 1 | *2* |",
    "table alignment": "| left | centre | right | none |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |",
    "bare urls": (
        "See https://example.org/a?b=1. Or (https://example.org/x), http://example.org/path_(1) and"
        " <https://example.org/angle>; not www.example.org, a@example.org, ftp://example.org/f,"
        " mailto:a@example.org or `https://example.org/code`.\n\n[named](https://example.org/named)"
    ),
}

# The same structure for both HTMLs, parsed by the same browser: tags, attributes, text with whitespace collapsed.
STRUCTURE = """([preview, server]) => {
  const shape = (node) => [...node.childNodes].flatMap((child) => {
    if (child.nodeType === Node.TEXT_NODE) {
      const text = child.textContent.replace(/\\s+/g, " ").trim();
      return text ? [text] : [];
    }
    if (child.nodeType !== Node.ELEMENT_NODE) return [];
    const attributes = Object.fromEntries([...child.attributes].map((a) => [a.name, a.value]).sort());
    return [{ tag: child.localName, attributes, children: shape(child) }];
  });
  const template = document.createElement("template");
  template.innerHTML = server;
  return import("/static/js/preview.js").then(({ renderPreview }) => [
    shape(renderPreview(preview)), shape(template.content),
  ]);
}"""


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_preview_and_the_server_render_a_document_to_the_same_structure(
    open_page: Callable[..., Watched], name: str
) -> None:
    watched = open_page()
    watched.page.goto("/compose")
    source = DOCUMENTS[name]
    preview, server = watched.page.evaluate(STRUCTURE, [source, render(source)])
    assert preview == server, json.dumps({"preview": preview, "server": server}, indent=1)


def test_the_preview_reads_the_rule_set_the_server_reads(open_page: Callable[..., Watched]) -> None:
    watched = open_page()
    watched.page.goto("/compose")
    served = watched.page.evaluate("fetch('/static/markdown-rules.json').then((r) => r.json())")
    assert served == RULES
    assert set(served["tags"]) == ALLOWED_TAGS and set(served["url_schemes"]) == URL_SCHEMES
    assert not {"h1", "h2"} & ALLOWED_TAGS  # a body's headings sit below the page's h1 and the post's h2


def test_the_server_keeps_table_alignment_as_align_and_links_only_bare_urls_with_a_scheme() -> None:
    table = render(DOCUMENTS["table alignment"])
    assert '<th align="left">left</th>' in table and '<td align="center">2</td>' in table
    assert '<td align="right">3</td>' in table and "<td>4</td>" in table and "style" not in table
    urls = render(DOCUMENTS["bare urls"])
    assert '<a href="https://example.org/a?b=1" rel="nofollow noopener ugc">https://example.org/a?b=1</a>.' in urls
    for text in ("www.example.org", "a@example.org", "ftp://example.org/f", "mailto:a@example.org"):
        assert f">{text}<" not in urls and text in urls  # left as text
    assert "<code>https://example.org/code</code>" in urls
