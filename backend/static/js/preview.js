// @ts-check
// Compose preview: the body rendered as the server will render it (./markdown.js, the same markdown-it and
// rule set as backend/markdown.py), shown while it is typed. The server's rendering is what readers see.

import { renderBody } from "./markdown.js";

/** Markdown source as the sanitised DOM the preview shows. @param {string} source */
export function renderPreview(source) {
  return renderBody(source || "");
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
