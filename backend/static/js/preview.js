// Compose preview: the same rules as the server (raw HTML as text, images as
// links, http/https/mailto links only), via marked and DOMPurify. The server's
// rendering (backend/markdown.py) is what readers see; this is a courtesy.

import DOMPurify from "/static/vendor/purify.es.mjs";
import { Marked } from "/static/vendor/marked.esm.js";

const escapeHtml = (text) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

const marked = new Marked({
  gfm: true,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      return `<a class="md-image" href="${escapeHtml(href || "")}">image: ${escapeHtml(text || "untitled")}</a>`;
    },
  },
});

const ALLOWED_TAGS = ["p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td"];

export function renderPreview(source) {
  const html = marked.parse(source || "");
  const clean = DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ["href", "title", "class"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    RETURN_DOM_FRAGMENT: true,
  });
  for (const link of clean.querySelectorAll("a")) link.rel = "nofollow noopener ugc";
  return clean;
}

export function initPreview() {
  const box = document.getElementById("preview");
  const textarea = document.getElementById("compose-body");
  if (!box || !textarea) return;
  const section = box.closest("section");
  const update = () => {
    section.hidden = !textarea.value.trim();
    box.replaceChildren(renderPreview(textarea.value));
  };
  textarea.addEventListener("input", update);
  update();
}
