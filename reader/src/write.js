// @ts-check
// Posting and voting from the reader: the controls (vote, reply, the compose form), built with every view. What
// they send, and how (the gateways' uploads, the wallet or the browser key and the relay), is reader/src/send.js,
// in the later module (reader/src/later.js), loaded on the first click if the view's proofs have not loaded it.

import { hasInjectedWallet } from "../../backend/static/js/signer.js";
import { later } from "./loader.js";

/**
 * @typedef {{state: any, params: any, refresh: () => Promise<void>, progress: (text: string) => void}} Context
 *   the reader's state and parameters (main.js), its view shown anew, its progress line
 */

/** @type {Context} */
let context = /** @type {any} */ (null);

/** Wire the controls to the reader's state (main.js calls this once the Board is checked). */
export function initWriting(/** @type {Context} */ given) {
  context = given;
}

function element(/** @type {string} */ tag, /** @type {Record<string, string>} */ attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Run an action of the later module, saying in ``line`` why not when that module cannot be loaded. */
function send(/** @type {(later: import("./later.js").Later) => Promise<void>} */ action, /** @type {HTMLElement} */ line) {
  later().then(action, (error) => {
    line.classList.add("warning");
    line.textContent = `Not sent: ${error.message}`;
  });
}

/** The signer choice, once per page, when a wallet is injected. */
function signerChoice() {
  if (!hasInjectedWallet() || document.getElementById("signer")) return null;
  const select = element("select", { id: "signer" }, element("option", { value: "wallet" }, "your wallet"), element("option", { value: "key" }, "this browser's key, through the relay"));
  return element("p", {}, element("label", { for: "signer" }, "Sign with"), select);
}

/** Vote and reply controls for a post, or the compose form (post null). */
export function writeControls(/** @type {any} */ post) {
  const id = post ? post.id : 0;
  const line = element("p", { class: "write-line", role: "status", "data-write-line": String(id) });
  if (post === null) {
    const title = element("input", { id: "compose-title", type: "text", maxlength: "300" });
    const body = element("textarea", { id: "compose-body" });
    const form = element(
      "form", { class: "compose" }, signerChoice() || "",
      element("p", {}, element("label", { for: "compose-title" }, "Title"), title),
      element("p", {}, element("label", { for: "compose-body" }, "Text (Markdown)"), body),
      element("p", {}, element("button", { type: "submit" }, "Post")), line,
    ); // prettier-ignore
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const doc = { title: /** @type {HTMLInputElement} */ (title).value, body: /** @type {HTMLTextAreaElement} */ (body).value };
      send((later) => later.submit(context, null, doc, line), line);
    });
    return form;
  }
  const up = element("button", { type: "button", "data-vote": "1" }, "Vote up");
  const down = element("button", { type: "button", "data-vote": "-1" }, "Vote down");
  const reply = element("button", { type: "button", "data-reply": String(id) }, "Reply");
  up.addEventListener("click", () => send((later) => later.vote(context, post, 1, line), line));
  down.addEventListener("click", () => send((later) => later.vote(context, post, -1, line), line));
  const controls = element("div", { class: "write" }, element("p", {}, up, " ", down, " ", reply), line);
  reply.addEventListener("click", () => {
    if (controls.querySelector("form")) return;
    const box = element("textarea", { id: `reply-${id}` });
    const form = element(
      "form", {}, signerChoice() || "",
      element("p", {}, element("label", { for: `reply-${id}` }, `Reply to #${id}`), box),
      element("p", {}, element("button", { type: "submit" }, "Send reply")),
    ); // prettier-ignore
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const doc = { body: /** @type {HTMLTextAreaElement} */ (box).value };
      send((later) => later.submit(context, post, doc, line), line);
    });
    controls.insertBefore(form, line);
  });
  return controls;
}
