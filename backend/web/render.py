"""The Jinja2 environment of the pages: autoescape on, our filters installed, partials inlined.

Where a page's time went (issue 25.2, cProfile of the front page, docs/benchmarks.md): about 95% in Jinja,
most of it the per-post ``{% include %}``s (about 200 a page: each a template lookup, an mtime check and a
new context copying every variable), then the escaping of each output (about 850 a page, each building a
Markup) and attribute lookups on the answer's dicts (``post.id`` tries ``getattr`` first, which fails with
an exception, then the key). So the loader inlines each partial where it is included, inside its own
``{% with %}`` scope (what it sets stays its own, as an include's did); outputs are escaped to text
without the Markup wrapper; and attribute lookups on a plain dict read the key first when no dict
attribute has that name (the same answer Jinja gives, without the exception). The HTML is byte for byte
what the includes gave (tests/backend/web/test_render.py renders every page both ways).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import markupsafe
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, Template, TemplateNotFound, nodes
from jinja2.compiler import CodeGenerator
from markupsafe import escape

from backend.web import filters

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"

# an include of a template named by a string literal (the only kind the templates use)
_INCLUDE = re.compile(r"""\{%\s*include\s+(?P<quote>["'])(?P<name>[^"']+)(?P=quote)\s*%\}""")
# the names a plain dict answers with an attribute (its methods): Jinja's ``d.items`` is the method, not a key
_DICT_ATTRIBUTES = frozenset(dir(dict))


class InliningLoader(FileSystemLoader):
    """A FileSystemLoader that puts each ``{% include "name" %}`` 's source in place, in a ``{% with %}`` scope.

    An include renders its template with the includer's context (its variables and the locals of the
    enclosing ``with`` and ``for``) and keeps its own ``set``s to itself; ``{% with %}`` around the inlined
    source does the same. The included source loses one trailing newline, as Jinja's lexer drops it from
    a template (``keep_trailing_newline`` is off). Up to date while every file it read is, looked at no more
    than once in ``recheck_seconds`` (an edited template shows within a second; each look is an ``os.stat`` of
    every partial, about 80 us a page when it was each request).
    """

    recheck_seconds = 1.0

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        """The template's source with its includes inlined, its file name, and whether all of it is current."""
        mtimes: dict[str, float] = {}
        source, filename = self._inlined(environment, template, mtimes, ())
        checked = [time.monotonic()]

        def uptodate() -> bool:
            now = time.monotonic()
            if now - checked[0] < self.recheck_seconds:
                return True
            checked[0] = now
            try:
                return all(os.path.getmtime(path) == mtime for path, mtime in mtimes.items())
            except OSError:
                return False

        return source, filename, uptodate

    def _inlined(
        self, environment: Environment, template: str, mtimes: dict[str, float], seen: tuple[str, ...]
    ) -> tuple[str, str]:
        if template in seen:
            raise TemplateNotFound(f"{template} includes itself ({' -> '.join((*seen, template))})")
        source, filename, _uptodate = super().get_source(environment, template)
        mtimes[filename] = os.path.getmtime(filename)

        def inline(match: re.Match[str]) -> str:
            inner, _name = self._inlined(environment, match["name"], mtimes, (*seen, template))
            if inner.endswith("\n"):
                inner = inner[:-1]
            return "{% with %}" + inner + "{% endwith %}"

        return _INCLUDE.sub(inline, source), filename


def _replace_escape(text: str) -> str:
    """markupsafe's escape of a str, as str methods: & < > ' " as &amp; &lt; &gt; &#39; &#34;."""
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;").replace('"', "&#34;")
    )


# markupsafe's own C function behind escape() (markupsafe 3.0, pinned); the str methods above where it is not
_escape_text: Callable[[str], str] = getattr(markupsafe, "_escape_inner", _replace_escape)


def _escape_output(value: Any) -> str:
    """What ``{{ value }}`` writes under autoescape: ``escape(value)``'s text, without its Markup wrapper.

    A compiled template passes every output through its module's ``escape`` and only joins the results into
    the page (or, for a ``{% set %}`` block or a macro, into one Markup), so the wrapper each call built was
    all it added: about 35 outputs a post row, 850 on the front page. An int's digits need no escaping;
    a str is escaped by markupsafe's own function; anything else (Markup, the Markdown filter's HTML, an
    Undefined) goes through ``escape`` as before.
    """
    kind = type(value)
    if kind is str:
        return _escape_text(value)
    if kind is int:  # not bool, whose text is a word
        return str(value)
    return escape(value)


class PageTemplate(Template):
    """A template whose outputs go through ``_escape_output``."""

    @classmethod
    def _from_namespace(
        cls, environment: Environment, namespace: MutableMapping[str, Any], globals: MutableMapping[str, Any]
    ) -> Template:
        namespace["escape"] = _escape_output  # the compiled module's own name for it (jinja2.runtime.escape)
        return super()._from_namespace(environment, namespace, globals)


# the compiled code's delegations to a block and to the template extended: one generator each, so every
# piece of a page passed up through three (the block's, base.html's, the page's); joined, each is one string
_DELEGATION = re.compile(r"yield from ((?:context\.blocks\[.+\]\[0\]|parent_template\.root_render_func)\(.+\))")


class PageCodeGenerator(CodeGenerator):
    """Jinja's code generator, but a block or the template extended is joined once and yielded as one string."""

    def writeline(self, x: str, node: nodes.Node | None = None, extra: int = 0) -> None:
        """Write a line of the compiled module (a delegation rewritten as one join)."""
        super().writeline(_DELEGATION.sub(r"yield environment.concat(\1)", x), node, extra)


class PageEnvironment(Environment):
    """Jinja's environment, with ``post.id`` on a plain dict read as its key without a failed getattr first."""

    template_class = PageTemplate
    code_generator_class = PageCodeGenerator

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute`` as Jinja answers it: for a dict, its key unless a dict attribute has that name."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def make_environment(inline: bool = True) -> Environment:
    """The pages' environment (autoescape on, our filters); ``inline=False``: the plain loader and lookups."""
    if inline:
        env: Environment = PageEnvironment(loader=InliningLoader(str(TEMPLATES_DIR)), autoescape=True)
    else:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    filters.install(env)
    return env


templates = Jinja2Templates(env=make_environment())


def lens_set_by_link(request: Request) -> bool:
    """Whether the page's link chose its lens (a fold, trusted voters, or a lens other than the lens cookie's):
    the lens line says "set by this link" and each score's words "the lens set by this link" (issue 19.10)."""
    asked = request.query_params
    lens = asked.get("lens")
    return (
        asked.get("fold") is not None
        or asked.get("trust") is not None
        or (lens is not None and lens != request.cookies.get("lens"))
    )


def page(request: Request, template: str, json_url: str | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context``; every page names its JSON twin."""
    return templates.TemplateResponse(
        request,
        template,
        {"json_url": json_url, "lens_linked": lens_set_by_link(request), **context},
        status_code=status_code,
    )
