// @ts-check
// Post bodies rendered in the browser exactly as the server renders them (backend/markdown.py): the same
// parser (markdown-it 14.1.0 here, markdown-it-py 4.3.0 there, its line-by-line port), the same rule set
// (../markdown-rules.json, read by both), the same render overrides and deterministic caps (tables only up
// to max_table_pipes pipes, nesting at most max_nesting, at most max_html_chars of HTML), then a sanitiser
// that keeps what nh3 keeps on the server (tags, attributes, and href only when it parses as an absolute URL
// of an allowed scheme, as Ammonia's url crate parses it: both are WHATWG URL parsers).
// The server's one budget that is not deterministic, CPU time, falls back to plain(): the body's source as
// escaped text, a pure function of the bytes that the browser recomputes exactly (verify.js accepts it).

import markdownit from "/static/vendor/markdown-it.esm.js";
import rules from "../markdown-rules.json" with { type: "json" };

/** @type {Record<string, string[]>} */
const ATTRIBUTES = rules.attributes;
const TAGS = new Set(rules.tags);
const SCHEMES = new Set(rules.url_schemes);
const REFUSED_HREF = new RegExp(rules.refused_href, "i"); // punycode or percent-encoded hosts: the link stays text
const DROPPED_WITH_CONTENT = new Set(["script", "style"]); // nh3's clean_content_tags on the server
// Python's str.isspace(), which the server's plain() and the document rule's strip() use (JS trim() differs:
// it strips U+FEFF and keeps U+001C..U+001F)
export const PY_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const BLANK = new RegExp(`^[${PY_SPACE}]*$`);

const escapeHtml = (/** @type {string} */ text) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** Each backtick run length's last position in ``src`` (markdown-it-py 4.3.0's _build_last_runs). @param {string} src */
function lastRuns(src) {
  /** @type {Record<number, number>} */
  const last = {};
  let pos = 0;
  let start;
  while ((start = src.indexOf("`", pos)) !== -1) {
    pos = start + 1;
    while (pos < src.length && src.charCodeAt(pos) === 0x60) pos++;
    last[pos - start] = start;
  }
  return last;
}

/**
 * markdown-it-py 4.3.0's backtick rule, line by line, in place of markdown-it 14.1.0's: that one caches where a
 * closing run can be from its first scan, which a link label's lookahead can leave short, so `[```> ```js` got
 * no code span in the browser and one on the server (found by test_render_parity's Hypothesis).
 * @param {any} state @param {boolean} silent
 */
function backtick(state, silent) {
  const start = state.pos;
  if (state.src.charCodeAt(start) !== 0x60) return false;
  const max = state.posMax;
  let pos = start + 1;
  while (pos < max && state.src.charCodeAt(pos) === 0x60) pos++;
  const marker = state.src.slice(start, pos);
  const openerLength = marker.length;
  if (!state.backticksScanned) {
    // lookaheads may visit runs out of order: the cache is built from the whole source, whatever the position
    state.backticks = lastRuns(state.src);
    state.backticksScanned = true;
  }
  if ((state.backticks[openerLength] ?? -1) >= pos) {
    let matchEnd = pos;
    let matchStart;
    while ((matchStart = state.src.indexOf("`", matchEnd)) !== -1 && matchStart < max) {
      matchEnd = matchStart + 1;
      while (matchEnd < state.src.length && state.src.charCodeAt(matchEnd) === 0x60) matchEnd++;
      if (matchEnd > max) break; // a run crossing posMax cannot close in this parse range
      if (matchEnd - matchStart === openerLength) {
        if (!silent) {
          const token = state.push("code_inline", "code", 0);
          token.markup = marker;
          let content = state.src.slice(pos, matchStart).replaceAll("\n", " ");
          // one space off each side, unless the content is all spaces
          if (content.startsWith(" ") && content.endsWith(" ") && /[^ ]/.test(content)) content = content.slice(1, -1);
          token.content = content;
        }
        state.pos = matchEnd;
        return true;
      }
    }
  }
  if (!silent) state.pending += marker;
  state.pos = pos;
  return true;
}

/** One markdown-it configured as backend/markdown.py's _parser(tables). @param {boolean} tables */
function parser(tables) {
  const linkify = rules.linkify_schemes.length > 0;
  const md = markdownit("commonmark", { html: false, linkify, typographer: false, maxNesting: rules.max_nesting });
  const extensions = rules.strikethrough ? ["strikethrough"] : [];
  if (tables && rules.tables) extensions.push("table");
  if (linkify) {
    extensions.push("linkify");
    md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
    for (const schema of ["http:", "https:", "ftp:", "mailto:", "//"]) {
      if (!rules.linkify_schemes.includes(schema.replace(/:$/, ""))) md.linkify.add(schema, null);
    }
  }
  md.enable(extensions);
  md.inline.ruler.at("backticks", backtick);
  const renderRules = md.renderer.rules;
  renderRules.image = (tokens, idx) => {
    const token = tokens[idx];
    const alt = (token.children || []).map((child) => child.content).join("") || "untitled";
    return `<a class="md-image" href="${escapeHtml(String(token.attrGet("src") || ""))}">image: ${escapeHtml(alt)}</a>`;
  };
  renderRules.heading_open = renderRules.heading_close = (tokens, idx) => {
    const token = tokens[idx];
    const level = Math.min(Number(token.tag.slice(1)) + rules.heading_shift, 6);
    return token.nesting === 1 ? `<h${level}>` : `</h${level}>\n`;
  };
  renderRules.th_open = renderRules.td_open = (tokens, idx, options, _env, self) => {
    const token = tokens[idx];
    const style = String(token.attrGet("style") || "");
    if (style.startsWith("text-align:")) {
      token.attrs = (token.attrs || []).filter(([name]) => name !== "style");
      token.attrSet("align", style.slice("text-align:".length));
    }
    return self.renderToken(tokens, idx, options);
  };
  return md;
}

/** @type {{tables: any, plain: any} | null} */
let parsers = null;

/** The length of ``text`` in code points, as Python's len(). @param {string} text */
function codePoints(text) {
  let pairs = 0;
  for (let i = 0; i < text.length - 1; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        pairs += 1;
        i += 1;
      }
    }
  }
  return text.length - pairs;
}

/** ``body`` as the server's HTML before sanitising, or null where the server shows plain text by a cap. */
export function renderHtml(/** @type {string} */ body) {
  parsers ??= { tables: parser(true), plain: parser(false) };
  const pipes = body.split("|").length - 1;
  const md = pipes <= rules.max_table_pipes ? parsers.tables : parsers.plain;
  // U+FEFF as U+2060 WORD JOINER, as backend/markdown.py's render(): JS's \s and trim() take U+FEFF for white
  // space where Python's do not, so the two markdown-its would trim and match reference labels differently
  const html = md.render(body.replaceAll("\ufeff", "\u2060"));
  return codePoints(html) > rules.max_html_chars ? null : html;
}

/** ``body`` as escaped text, as the server's plain(): a paragraph per blank-line-separated block, <br> kept. */
export function plainHtml(/** @type {string} */ body) {
  return body
    .replaceAll("\r\n", "\n")
    .split("\n\n")
    .filter((block) => !BLANK.test(block))
    .map((block) => `<p>${escapeHtml(block).replaceAll("\n", "<br>")}</p>`)
    .join("");
}

/** Whether ``href`` is kept by nh3: an absolute URL (WHATWG parse) of an allowed scheme; relative is denied. */
function allowedUrl(/** @type {string} */ href) {
  if (REFUSED_HREF.test(href)) return false;
  try {
    return SCHEMES.has(new URL(href).protocol.slice(0, -1));
  } catch {
    return false;
  }
}

/** Copy what nh3 keeps of ``from``'s children into ``to``: allowed tags and attributes, others unwrapped. */
function keep(/** @type {Node} */ from, /** @type {Node} */ to) {
  for (const child of Array.from(from.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      to.appendChild(document.createTextNode(/** @type {Text} */ (child).data));
      continue;
    }
    if (!(child instanceof Element)) continue;
    const name = child.localName;
    if (DROPPED_WITH_CONTENT.has(name)) continue;
    if (!TAGS.has(name)) {
      keep(child instanceof HTMLTemplateElement ? child.content : child, to);
      continue;
    }
    const element = document.createElement(name);
    const allowed = ATTRIBUTES[name] || [];
    for (const attribute of Array.from(child.attributes)) {
      if (!allowed.includes(attribute.name)) continue;
      if (attribute.name === "href" && !allowedUrl(attribute.value)) continue;
      element.setAttribute(attribute.name, attribute.value);
    }
    if (name === "a") element.setAttribute("rel", rules.link_rel);
    keep(child, element);
    to.appendChild(element);
  }
}

/** HTML as a sanitised fragment (parsed inert in a template, then rebuilt node by node). @param {string} html */
export function sanitise(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const fragment = document.createDocumentFragment();
  keep(template.content, fragment);
  return fragment;
}

/** A Markdown body as the sanitised DOM the server's render() gives for it (plain text past a cap). */
export function renderBody(/** @type {string} */ body) {
  if (!body) return document.createDocumentFragment();
  const html = renderHtml(body);
  return sanitise(html === null ? plainHtml(body) : html);
}

/** A body as the server's plain-text fallback shows it. */
export function plainBody(/** @type {string} */ body) {
  const template = document.createElement("template");
  template.innerHTML = plainHtml(body);
  return template.content;
}

// parents whose whitespace-only text nodes are only the newlines between blocks
const BLOCK_PARENTS = new Set(["blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "div"]);

/**
 * The structure of a rendered body, one token per line: each element with its name and every attribute
 * (sorted), each text node with its whitespace collapsed, except inside <pre> where it is kept exactly.
 * Whitespace-only text between blocks is left out. @param {Node} root @returns {string[]}
 */
export function shapeOf(root) {
  /** @type {string[]} */
  const out = [];
  const walk = (/** @type {Node} */ node, /** @type {boolean} */ pre, /** @type {string} */ parent) => {
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === Node.TEXT_NODE) {
        // U+FEFF: JS's trim() drops it where Python's strip() keeps it (markdown-it trims paragraphs and
        // headings); invisible, so left out of the comparison outside code
        const text = pre ? /** @type {Text} */ (child).data : /** @type {Text} */ (child).data.replaceAll("\ufeff", "");
        if (pre) out.push(`text ${JSON.stringify(text)}`);
        else if (!(/^\s*$/.test(text) && (parent === "" || BLOCK_PARENTS.has(parent)))) {
          out.push(`text ${JSON.stringify(text.replace(/\s+/g, " "))}`);
        }
        continue;
      }
      if (!(child instanceof Element)) continue;
      const attributes = Array.from(child.attributes, (a) => ` ${a.name}=${JSON.stringify(a.value)}`).sort();
      out.push(`<${child.localName}${attributes.join("")}>`);
      walk(child, pre || child.localName === "pre", child.localName);
      out.push(`</${child.localName}>`);
    }
  };
  walk(root, false, "");
  return out;
}

const cut = (/** @type {string | null} */ text) => {
  const shown = JSON.stringify(text ?? "(none)");
  return shown.length > 60 ? `${shown.slice(0, 57)}…"` : shown;
};

/** @param {ParentNode} root @param {string} selector @param {(el: Element) => string | null} value */
const each = (root, selector, value) => Array.from(root.querySelectorAll(selector), value);

/**
 * What differs between the body a node shows and the one the author's bytes render to, named in the reader's
 * words (a link's target, an image's source, a list's start, a code block's text...); empty when the same.
 * @param {ParentNode} shown @param {ParentNode} expected @returns {string[]}
 */
export function bodyDifferences(shown, expected) {
  const a = shapeOf(/** @type {Node} */ (/** @type {unknown} */ (shown)));
  const b = shapeOf(/** @type {Node} */ (/** @type {unknown} */ (expected)));
  if (a.length === b.length && a.every((token, i) => token === b[i])) return [];
  const found = [];
  const checks = /** @type {[string, string, (el: Element) => string | null][]} */ ([
    ["a link's target", "a:not(.md-image)", (el) => el.getAttribute("href")],
    ["an image's source", "a.md-image", (el) => el.getAttribute("href")],
    ["a list's start", "ol", (el) => el.getAttribute("start")],
    ["a code block's text", "pre", (el) => el.textContent],
    ["inline code", ":not(pre) > code", (el) => el.textContent],
  ]);
  for (const [what, selector, value] of checks) {
    const here = each(shown, selector, value);
    const there = each(expected, selector, value);
    const at = Array.from({ length: Math.max(here.length, there.length) }, (_, i) => i).find(
      (i) => here[i] !== there[i],
    );
    if (at !== undefined) found.push(`${what} differs (this node: ${cut(here[at])}; the author's: ${cut(there[at])})`);
  }
  if (found.length) return found;
  const at = a.findIndex((token, i) => token !== b[i]);
  return [`the text or its formatting differs (this node: ${cut(a[at] ?? null)}; the author's: ${cut(b[at] ?? null)})`];
}
