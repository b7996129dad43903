// @ts-check
// Keys for readers: j/k between posts, o or Enter to open, r to reply, u/d to vote, ? for the list.
// Never while typing (in a field, or with a modifier held), and never on a page without posts but for "?".

import { replyTo } from "./composing.js";

const KEYS = [
  ["j", "next post"],
  ["k", "previous post"],
  ["o or Enter", "open the post"],
  ["r", "reply to the post"],
  ["u", "vote the post up (again: withdraw)"],
  ["d", "vote the post down (again: withdraw)"],
  ["?", "show or hide this list"],
];

/** Whether the key press belongs to something being typed or to a browser shortcut. @param {KeyboardEvent} event */
function typing(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return true;
  const target = event.target;
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || Boolean(target.closest("input, textarea, select, [contenteditable]")))
  );
}

/** The posts a reader can move between: every post on the page that is shown. */
function posts() {
  return /** @type {HTMLElement[]} */ (
    Array.from(document.querySelectorAll("article.post[data-post-id]")).filter(
      (post) => post instanceof HTMLElement && post.getClientRects().length > 0,
    )
  );
}

/** The post the reader is on: the one marked current, else the one holding focus. */
function current() {
  const marked = document.querySelector("article.post.is-current");
  if (marked instanceof HTMLElement) return marked;
  const focused = document.activeElement?.closest("article.post[data-post-id]");
  return focused instanceof HTMLElement ? focused : null;
}

/** Make ``post`` the current one: marked, focused, in view. @param {HTMLElement} post */
function select(post) {
  document.querySelectorAll("article.post.is-current").forEach((other) => other.classList.remove("is-current"));
  post.classList.add("is-current");
  post.setAttribute("tabindex", "-1");
  post.focus({ preventScroll: true });
  post.scrollIntoView({ block: "nearest" });
}

/** Move ``step`` posts from the current one (the first post when none is). @param {number} step */
function move(step) {
  const all = posts();
  if (!all.length) return;
  const here = current();
  const at = here ? all.indexOf(here) : -1;
  const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(at + step, 0), all.length - 1);
  select(all[next]);
}

/** Open the current post: its title, else its permalink. @param {HTMLElement} post */
function open(post) {
  const link = post.querySelector(".post-title a, a.permalink");
  if (link instanceof HTMLAnchorElement) link.click();
}

/** The list of keys, as a dialog; built once. */
function helpDialog() {
  let dialog = document.getElementById("keys-help");
  if (dialog instanceof HTMLDialogElement) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "keys-help";
  dialog.setAttribute("aria-labelledby", "keys-help-heading");
  const heading = document.createElement("h2");
  heading.id = "keys-help-heading";
  heading.textContent = "Keyboard";
  const list = document.createElement("dl");
  for (const [key, does] of KEYS) {
    const term = document.createElement("dt");
    const kbd = document.createElement("kbd");
    kbd.textContent = key;
    term.append(kbd);
    const description = document.createElement("dd");
    description.textContent = does;
    list.append(term, description);
  }
  const note = document.createElement("p");
  note.textContent = "Keys do nothing while you type in a field.";
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "Close";
  close.addEventListener("click", () => /** @type {HTMLDialogElement} */ (dialog).close());
  dialog.append(heading, list, note, close);
  document.body.append(dialog);
  return /** @type {HTMLDialogElement} */ (dialog);
}

/** @param {KeyboardEvent} event */
function onKey(event) {
  if (event.defaultPrevented || typing(event)) return;
  if (event.key === "?") {
    const dialog = helpDialog();
    if (dialog.open) dialog.close();
    else dialog.showModal();
    event.preventDefault();
    return;
  }
  if (document.querySelector("dialog[open]")) return;
  const post = current();
  if (event.key === "j" || event.key === "k") {
    move(event.key === "j" ? 1 : -1);
  } else if (post && (event.key === "o" || (event.key === "Enter" && event.target === post))) {
    open(post);
  } else if (post && event.key === "r") {
    const id = post.dataset.postId || "";
    if (!replyTo(id)) location.assign(`/compose?parent=${id}`);
  } else if (post && (event.key === "u" || event.key === "d")) {
    const button = post.querySelector(event.key === "u" ? "form.vote .vote-up" : "form.vote .vote-down");
    if (button instanceof HTMLButtonElement) button.click();
  } else {
    return;
  }
  event.preventDefault();
}

/** Listen for the reader's keys on every page. */
export function initKeyboard() {
  document.addEventListener("keydown", onKey);
}
