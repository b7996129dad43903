// @ts-check
// Compose preview, with the server's rule set (../markdown-rules.json, which backend/markdown.py reads too):
// raw HTML as text, images as links, headings shifted below the page's own, only the allowed tags,
// attributes and link schemes, via marked and DOMPurify. The server's rendering is what readers see;
// this is a courtesy.

import DOMPurify from "/static/vendor/purify.es.mjs";
import { Marked, Tokenizer } from "/static/vendor/marked.esm.js";
import rules from "../markdown-rules.json" with { type: "json" };

/** @type {Record<string, string[]>} */
const ATTRIBUTES = rules.attributes;
const ALLOWED_ATTR = [...new Set(Object.values(ATTRIBUTES).flat())];
const URL_SCHEMES = new RegExp(`^(?:${rules.url_schemes.join("|")}):`, "i");
// DOMPurify tests every attribute it does not know as URL-free against the scheme pattern (so it dropped
// ol's start="3"): only href is a URL here
const NOT_URLS = ALLOWED_ATTR.filter((name) => name !== "href");
// bare URLs become links only when written with one of these schemes, as markdown-it's linkify on the server
// (no "www." or e-mail guesses)
const LINKIFY = new RegExp(`^(?:${rules.linkify_schemes.join("|")})://`, "i");
const defaultUrl = Tokenizer.prototype.url;

const escapeHtml = (/** @type {string} */ text) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

const marked = new Marked({
  gfm: true,
  tokenizer: {
    /** @param {string} src */
    url(src) {
      const token = defaultUrl.call(this, src);
      // undefined, not false: false would let marked fall back to its own tokenizer
      return token && LINKIFY.test(token.raw) ? token : undefined;
    },
  },
  renderer: {
    html({ text, block }) {
      // the server parses raw HTML as text, so a block of it is a paragraph there too
      return block ? `<p>${escapeHtml(text.trim())}</p>\n` : escapeHtml(text);
    },
    del({ tokens }) {
      return `<s>${this.parser.parseInline(tokens)}</s>`; // markdown-it's strikethrough tag
    },
    image({ href, text }) {
      return `<a class="md-image" href="${escapeHtml(href || "")}">image: ${escapeHtml(text || "untitled")}</a>`;
    },
    heading({ tokens, depth }) {
      const level = Math.min(depth + rules.heading_shift, 6);
      return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
    },
  },
});

/** A DOMPurify of the preview's own, keeping each attribute only on the tags the rule set names it for. */
function makeSanitiser() {
  const purify = DOMPurify(window);
  purify.addHook("uponSanitizeAttribute", (node, data) => {
    if (!(ATTRIBUTES[node.nodeName.toLowerCase()] || []).includes(data.attrName)) data.keepAttr = false;
  });
  return purify;
}

/** @type {ReturnType<typeof makeSanitiser> | null} */
let sanitiser = null;

/** Markdown source as the sanitised DOM the preview shows. */
export function renderPreview(source) {
  const html = /** @type {string} */ (marked.parse(source || "", { async: false }));
  sanitiser ??= makeSanitiser();
  const clean = sanitiser.sanitize(html, {
    ALLOWED_TAGS: rules.tags,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: URL_SCHEMES,
    ADD_URI_SAFE_ATTR: NOT_URLS,
    RETURN_DOM_FRAGMENT: true,
  });
  for (const link of clean.querySelectorAll("a")) link.rel = rules.link_rel;
  return clean;
}

/** Show the preview of the compose body as it is typed. */
export function initPreview() {
  const box = document.getElementById("preview");
  const textarea = document.getElementById("compose-body");
  if (!box || !(textarea instanceof HTMLTextAreaElement)) return;
  const section = box.closest("section");
  const update = () => {
    if (section) section.hidden = !textarea.value.trim();
    box.replaceChildren(renderPreview(textarea.value));
  };
  textarea.addEventListener("input", update);
  update();
}
