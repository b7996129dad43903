// @ts-check
// Writing: the compose form (a new post or a reply), the inline reply form, and the line saying who signs.

import { showAccount } from "./account.js";
import { submitPost } from "./actions.js";
import { signerMode } from "./signer.js";
import { fetchMain, flashNext, focusOn, setStatus, toast, updateTimes } from "./ui.js";
import { verifyPage } from "./verify.js";
import { markVotes } from "./voting.js";

/** Replace <main> with the freshly rendered page, keeping the reader where they were. */
async function refreshMain(focusSelector) {
  const fresh = await fetchMain(location.href, { Accept: "text/html" });
  const main = document.querySelector("main");
  if (!fresh || !main) return;
  main.replaceChildren(...fresh.childNodes);
  await markVotes();
  updateTimes();
  focusOn(focusSelector);
  // the fresh page states a newer block and may show new posts: check it as the first one was
  verifyPage().catch((error) => console.error("checking the page against the chain failed", error));
}

/**
 * Send the post or reply in form, then go to the new post's page or show the reply in place.
 * @param {HTMLFormElement} form
 */
async function onCompose(form) {
  const status = form.querySelector(".tx-status");
  const button = form.querySelector("button[type=submit]");
  const fields = /** @type {HTMLFormControlsCollection & Record<string, HTMLInputElement>} */ (form.elements);
  const parentId = Number(form.dataset.parentId || "0");
  const parentDigest = form.dataset.parentDigest || undefined;
  const title = fields.title ? fields.title.value.trim() : undefined;
  const body = fields.body.value;
  const topic = fields.topic ? fields.topic.value.trim().toLowerCase() || undefined : undefined;
  if (!parentId && !title) {
    setStatus(status, "error", "A post needs a title.");
    fields.title.focus();
    return;
  }
  if (parentId && !body.trim()) {
    setStatus(status, "error", "A reply needs some text.");
    fields.body.focus();
    return;
  }
  if (button instanceof HTMLButtonElement) button.disabled = true;
  try {
    const post = await submitPost({ title, body, topic, parentId, parentDigest }, (state, text) => setStatus(status, state, text));
    await showAccount();
    if (!parentId) {
      flashNext(`Post ${post.id} confirmed in block ${post.block_number}.`);
      location.assign(`/posts/${post.id}`);
      return;
    }
    toast(`Reply ${post.id} confirmed.`);
    form.reset();
    await refreshMain(`#post-${post.id}`);
  } catch (error) {
    setStatus(status, "error", `Not posted: ${error.shortMessage || error.message}`);
  } finally {
    if (button instanceof HTMLButtonElement) button.disabled = false;
  }
}

/**
 * Open (or focus) the reply form under the post of link, from the page's reply template.
 * @param {HTMLAnchorElement} link
 */
function openReplyForm(link) {
  const parentId = link.dataset.parentId ?? "";
  const existing = document.getElementById(`reply-form-${parentId}`);
  if (existing) {
    existing.querySelector("textarea")?.focus();
    return;
  }
  const template = document.getElementById("reply-template");
  if (!template) {
    location.assign(link.href);
    return;
  }
  const html = template.innerHTML.replaceAll("PARENT", parentId);
  const holder = document.createElement("div");
  holder.id = `reply-form-${parentId}`;
  holder.className = "reply-holder";
  holder.append(...new DOMParser().parseFromString(html, "text/html").body.childNodes);
  // the reply names its parent by the digest on this page, not by whatever holds the id when it is sent
  const form = holder.querySelector("form.compose");
  if (form instanceof HTMLFormElement) form.dataset.parentDigest = link.dataset.parentDigest;
  link.closest(".post")?.after(holder);
  holder.querySelector("textarea")?.focus();
}

/** Say who signs on the compose page. */
function showSignerInfo() {
  const signerInfo = document.getElementById("signer-info");
  if (signerInfo) {
    signerInfo.textContent =
      signerMode() === "wallet"
        ? "Your wallet extension sends this post to the chain itself."
        : "Your post is signed by this browser's key and relayed, so you need no ether.";
  }
}

/** Handle compose forms and reply links on the page, now and after <main> is replaced. */
export function initComposing() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.compose")) return;
    event.preventDefault();
    onCompose(form);
  });
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a.reply-link") : null;
    if (link instanceof HTMLAnchorElement && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      openReplyForm(link);
    }
  });
  showSignerInfo();
}
