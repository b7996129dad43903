"""Post bodies: Markdown rendered on the server, then sanitised.

Two independent layers, so that a bug in one is caught by the other:
markdown-it-py with raw HTML switched off (tags in a body come out as text),
then nh3 (Ammonia) keeps only a small tag set and only http, https and mailto
links, each with ``rel="nofollow noopener ugc"``. Images are never loaded: they
become links reading ``image: <alt>``, which the reader follows if they choose.
Bare URLs written with an http or https scheme become links (linkify-it-py; no
``www.`` or e-mail guessing), and a table cell's alignment is its ``align``
attribute (markdown-it writes ``style``, which nh3 strips): both as the preview's
markdown.js does (the same markdown-it in the browser), so the preview shows what readers will see.
Those rules live in ``backend/static/markdown-rules.json``, which the browser's
compose preview (``backend/static/js/preview.js``) reads too.

Rendering is bounded: markdown-it-py is pure Python and some 64 KB bodies cost
it most of a second (32,000 unclosed ``![``: each bracket rescans the rest for
its label). A deadline checked from the block, inline and post-processing rules
stops such a render, and so does a cap on the HTML produced; the body is then
shown as escaped plain text. Content is immutable, so ``render_cached`` keeps
the result in an LRU keyed by the post's digest and ``RENDERER_VERSION``, with
no invalidation. Timings: docs/benchmarks.md (``bench/markdown.py``).
"""

from __future__ import annotations

import gc
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import mdurl
import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import isPunctChar
from markdown_it.renderer import RendererProtocol
from markdown_it.rules_inline import state_inline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

# The one rule set, shared with the browser's compose preview (backend/static/js/preview.js reads the same file).
RULES_PATH = Path(__file__).parent / "static" / "markdown-rules.json"
RULES: dict[str, Any] = json.loads(RULES_PATH.read_text(encoding="utf-8"))
ALLOWED_TAGS: set[str] = set(RULES["tags"])
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {tag: set(names) for tag, names in RULES["attributes"].items()}
URL_SCHEMES: set[str] = set(RULES["url_schemes"])
LINK_REL: str = RULES["link_rel"]
# a body's headings sit below the page's h1 and the post's h2
HEADING_SHIFT: int = RULES["heading_shift"]
RENDERER_VERSION = 5  # part of the cache key: bump when the HTML a body gives changes
# CPU time of the rendering thread, not wall time: a busy machine must not turn ordinary posts into plain text.
# Nor may a garbage collection that happens to run in the thread mid-render (a gen-2 pass over a big heap costs
# more than the whole budget): the time collections take is left out (_GC below).
# Ordinary 64 KB prose fits well inside it, crafted bodies are stopped (timings: docs/benchmarks.md, "Markdown").
RENDER_SECONDS = 0.2
# The deterministic caps live in the rule set, so that the browser (static/js/markdown.js) applies the same ones.
MAX_HTML: int = RULES["max_html_chars"]  # 512 Ki code points; a 64 KB table renders to ~360 KB
MAX_NESTING: int = RULES["max_nesting"]  # blocks (quotes, lists) and inline levels, as commonmark's preset
# the table rule lays out a whole table in one call the deadline cannot interrupt: a body with more pipes
# than a 1,000-row table of four columns is parsed without tables (its pipes stay text)
MAX_TABLE_PIPES: int = RULES["max_table_pipes"]
# hrefs whose host is punycode or percent-encoded are dropped (the link stays text), as in the browser
REFUSED_HREF = re.compile(RULES["refused_href"], re.IGNORECASE)
# U+FEFF is the one character that JS's \s and trim() take for white space and Python's do not, so markdown-it
# and markdown-it-py would trim and match reference labels differently around it: both sides render it as U+2060
# WORD JOINER, its designated replacement (the same invisible no-break; neither language calls it space)
BOM_AS_WORD_JOINER = str.maketrans({"\ufeff": "\u2060"})
CACHE_SIZE = 2048  # rendered bodies kept, ~20 MB at worst of ordinary posts
_CHECK_EVERY = 64  # rule calls between two clock readings


class _GcClock(threading.local):
    """CPU seconds this thread spent in garbage collections (gc.callbacks run in the collecting thread)."""

    started: float | None = None
    spent: float = 0.0


_GC = _GcClock()


def _count_gc(phase: str, _info: dict[str, int]) -> None:
    if phase == "start":
        _GC.started = time.thread_time()
    elif _GC.started is not None:
        _GC.spent += time.thread_time() - _GC.started
        _GC.started = None


gc.callbacks.insert(0, _count_gc)  # first, so that other callbacks' own work counts as collection time too


def _render_clock() -> float:
    """The thread's CPU time less its garbage collections': what the render budget is counted in."""
    return time.thread_time() - _GC.spent


class RenderBudgetExceeded(RuntimeError):
    """The body took too long to parse or gave too much HTML: it is shown as plain text instead."""


def _image_as_link(
    _renderer: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or []) or "untitled"
    src = str(token.attrGet("src") or "")
    return f'<a class="md-image" href="{_escape(src)}">image: {_escape(alt)}</a>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _shift_heading(
    _renderer: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    level = min(int(token.tag[1]) + HEADING_SHIFT, 6)
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


def _cell_align(
    renderer: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A table cell's alignment as ``align`` (as the preview's markdown.js writes it), not ``style`` (nh3 strips it)."""
    token = tokens[idx]
    style = str(token.attrGet("style") or "")
    if style.startswith("text-align:"):
        token.attrs.pop("style")
        token.attrSet("align", style.removeprefix("text-align:"))
    return str(cast(Any, renderer).renderToken(tokens, idx, options, env))  # the HTML renderer's, as by default


def _check(env: EnvType) -> None:
    env["_calls"] += 1
    if env["_calls"] % _CHECK_EVERY == 0 and _render_clock() > env["_deadline"]:
        raise RenderBudgetExceeded


def _inline_deadline(state: Any, silent: bool) -> bool:
    _check(state.env)  # first of the inline rules: runs at every position, also inside link-label scans
    return False


def _block_deadline(state: Any, start: int, end: int, silent: bool) -> bool:
    _check(state.env)
    return False


def _post_deadline(state: Any) -> None:
    state.env["_calls"] = _CHECK_EVERY - 1  # the next check reads the clock
    _check(state.env)


def _core_deadline(state: Any) -> None:
    _post_deadline(state)


def _punct_as_the_browser_sees_it(ch: str) -> bool:
    """markdown-it's punctuation test for a delimiter's neighbour, as the browser's markdown-it (14.1.0) applies it.

    The browser reads a delimiter's neighbours as UTF-16 code units, so a character past U+FFFF (an emoji, an
    astral symbol) is half of a surrogate pair there: neither punctuation nor space. markdown-it-py reads the code
    point, which is punctuation (category S or P), and so rendered ``\U0001f600_a_b_`` with emphasis where the
    browser, and so its check of this page, did not. The page must render as the browser's copy does.
    """
    return ord(ch) <= 0xFFFF and isPunctChar(ch)


# scanDelims (emphasis and strikethrough delimiters) is the only user of this name in state_inline
state_inline.isPunctChar = _punct_as_the_browser_sees_it  # type: ignore[attr-defined]


log = logging.getLogger(__name__)
_SURROGATE = re.compile("[\ud800-\udfff]")


class _PostMarkdown(MarkdownIt):
    """markdown-it-py, but a link's text never holds a lone surrogate."""

    def normalizeLinkText(self, link: str) -> str:
        """An autolink's or bare URL's text, its host decoded from punycode, unless that gives a lone surrogate.

        Python's punycode codec decodes some labels to a code point no text can hold (``xn--a-rc4g`` is U+D800),
        and nh3 then raised on the page's HTML: every page showing such a post answered 500. markdown-it-py
        keeps the host as written when decoding fails; this is one more failure, and the browser's port
        (markdown.js) fails there too, so both show ``xn--a-rc4g`` as written.
        """
        text = super().normalizeLinkText(link)
        if _SURROGATE.search(text) is None:
            return text
        return mdurl.decode(mdurl.format(mdurl.parse(link, slashes_denote_host=True)), mdurl.DECODE_DEFAULT_CHARS + "%")


def _parser(tables: bool = True) -> MarkdownIt:
    linkify = bool(RULES["linkify_schemes"])
    options = {"html": False, "linkify": linkify, "typographer": False, "maxNesting": MAX_NESTING}
    md = _PostMarkdown("commonmark", options)
    extensions = ["strikethrough"] if RULES["strikethrough"] else []
    if tables and RULES["tables"]:
        extensions.append("table")
    if linkify:
        extensions.append("linkify")
        _link_only_schemes(md)
        md.core.ruler.before("linkify", "deadline_linkify", _core_deadline)
    md.enable(extensions)
    md.block.ruler.before("table", "deadline", _block_deadline)
    md.inline.ruler.before("text", "deadline", _inline_deadline)
    for name in md.inline.ruler2.get_all_rules():  # between post-processing passes too
        md.inline.ruler2.before(name, f"deadline_{name}", _post_deadline)
    md.add_render_rule("image", _image_as_link)
    md.add_render_rule("heading_open", _shift_heading)
    md.add_render_rule("heading_close", _shift_heading)
    md.add_render_rule("th_open", _cell_align)
    md.add_render_rule("td_open", _cell_align)
    return md


def _link_only_schemes(md: MarkdownIt) -> None:
    """Bare URLs become links only with a scheme of the rule set (as the preview's markdown.js): no www., no e-mail."""
    assert md.linkify is not None
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
    for schema in ("http:", "https:", "ftp:", "mailto:", "//"):
        if schema.removesuffix(":") not in RULES["linkify_schemes"]:
            md.linkify.add(schema, None)


_MD = _parser()
_MD_NO_TABLES = _parser(tables=False)


def _refuse_hosts(tag: str, attribute: str, value: str) -> str | None:
    """Drop an href to a punycode or percent-encoded host (markdown-rules.json's refused_href)."""
    return None if attribute == "href" and REFUSED_HREF.match(value) else value


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
        attribute_filter=_refuse_hosts,
    )


def render(body: str | None, seconds: float = RENDER_SECONDS, max_html: int = MAX_HTML) -> str:
    """Markdown ``body`` as sanitised HTML (empty for a missing body); escaped plain text past the budget."""
    if not body:
        return ""
    env: dict[str, Any] = {"_calls": 0, "_deadline": _render_clock() + seconds}
    md = _MD if body.count("|") <= MAX_TABLE_PIPES else _MD_NO_TABLES
    try:
        html = md.renderer.render(md.parse(body.translate(BOM_AS_WORD_JOINER), env), md.options, env)
        return plain(body) if len(html) > max_html else sanitise(html)
    except (RenderBudgetExceeded, RecursionError):
        return plain(body)
    except Exception:  # a crafted body that trips a bug not known today (nh3 refusing a lone surrogate, say):
        # its text, never a 500 for every page showing it
        log.exception("Markdown render failed; the body is shown as plain text")
        return plain(body)


def plain(body: str) -> str:
    """``body`` as escaped text: a paragraph per blank-line-separated block, line breaks kept."""
    blocks = [block for block in body.replace("\r\n", "\n").split("\n\n") if block.strip()]
    return "".join(f"<p>{_escape(block).replace(chr(10), '<br>')}</p>" for block in blocks)


class RenderCache:
    """Rendered bodies by (renderer version, post digest), least recently used dropped first; thread-safe."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def render(self, digest: str | None, body: str | None) -> str:
        """``render(body)``, remembered under ``digest`` (the digest names the exact bytes: never stale)."""
        if not body:
            return ""
        if not digest:
            return render(body)
        key = (RENDERER_VERSION, digest)
        with self._lock:
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return html
            self.misses += 1
        html = render(body)  # outside the lock: two threads may render the same body once each
        with self._lock:
            self._items[key] = html
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return html


CACHE = RenderCache()


def render_cached(digest: str | None, body: str | None) -> str:
    """``render(body)`` from the process's cache, keyed by the post's ``digest``."""
    return CACHE.render(digest, body)
