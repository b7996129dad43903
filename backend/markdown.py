"""Post bodies: Markdown rendered on the server, then sanitised.

Two independent layers, so that a bug in one is caught by the other:
markdown-it-py with raw HTML switched off (tags in a body come out as text),
then nh3 (Ammonia) keeps only a small tag set and only http, https and mailto
links, each with ``rel="nofollow noopener ugc"``. Images are never loaded: they
become links reading ``image: <alt>``, which the reader follows if they choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title", "class"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener ugc"
# a body's headings sit below the page's h1 and the post's h2
HEADING_SHIFT = 2


def _image_as_link(tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or []) or "untitled"
    src = str(token.attrGet("src") or "")
    return f'<a class="md-image" href="{_escape(src)}">image: {_escape(alt)}</a>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _shift_heading(tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    level = min(int(token.tag[1]) + HEADING_SHIFT, 6)
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    renderer: Any = md.renderer
    assert isinstance(renderer, RendererHTML)
    renderer.rules["image"] = _image_as_link
    renderer.rules["heading_open"] = _shift_heading
    renderer.rules["heading_close"] = _shift_heading
    return md


_MD = _parser()


def sanitise(html: str) -> str:
    """Keep only the allowed tags, attributes and link schemes."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        url_relative="deny",
    )


def render(body: str | None) -> str:
    """Markdown ``body`` as sanitised HTML (empty for a missing body)."""
    if not body:
        return ""
    return sanitise(_MD.render(body))
