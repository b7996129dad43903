// @ts-check
// Writing: the compose form (a new post or a reply), the inline reply form, and the line saying who signs.

import { showAccount } from "./account.js";
import { submitPost } from "./actions.js";
import { ApiError } from "./api.js";
import { noteFirstPost } from "./welcome.js";
import { shortHash } from "./format.js";
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

const STEPS = ["sign", "sent", "chain", "shown"];
const STEP_NAMES = { sign: "Signing", sent: "Sent", chain: "On chain", shown: "Shown on this node" };

/**
 * Mark the form's steps: those before ``step`` done, ``step`` in ``state``, the rest to do.
 * @param {HTMLFormElement} form @param {string} step @param {string} state @param {string} [detail]
 */
function markStep(form, step, state, detail) {
  const list = form.querySelector("[data-post-steps]");
  if (!(list instanceof HTMLElement)) return;
  list.hidden = false;
  const at = STEPS.indexOf(step);
  for (const item of list.querySelectorAll("li[data-step]")) {
    if (!(item instanceof HTMLElement)) continue;
    const name = item.dataset.step || "";
    const index = STEPS.indexOf(name);
    const mine = index === at ? state : index < at ? "done" : "todo";
    item.dataset.state = mine;
    if (mine === "active" || mine === "todo") item.removeAttribute("aria-current");
    if (index === at && state === "active") item.setAttribute("aria-current", "step");
    if (index === at && detail) item.textContent = `${STEP_NAMES[name]}: ${describeDetail(name, detail)}`;
    else if (index >= at && mine !== "done") item.textContent = STEP_NAMES[name];
  }
}

/** A step's detail as the reader reads it. @param {string} step @param {string} detail */
function describeDetail(step, detail) {
  if (step === "sent") return `transaction ${shortHash(detail)}`;
  if (step === "chain") return `block ${detail}`;
  if (step === "shown") return `post ${detail}`;
  return detail;
}

/**
 * What went wrong, in plain words, and what to do about it.
 * @param {any} error
 */
export function describeFailure(error) {
  const message = String(error?.shortMessage || error?.message || error);
  const status = error instanceof ApiError ? error.status : 0;
  if (error?.code === "ACTION_REJECTED" || error?.code === 4001 || /user (rejected|denied)/i.test(message)) {
    return "You declined in your wallet, so nothing was sent. Press the button again when you are ready.";
  }
  if (status === 429) return `The relay is busy: ${message}. Your text is still here; post it again after that.`;
  if (status === 413) return `Too long for this node: ${message}. Shorten it and post again.`;
  if (status === 503 || status >= 500) {
    return `This node cannot reach the chain right now (${message}). Your text is still here: try again in a minute.`;
  }
  if (status === 400 || status === 422) return `The node refused it: ${message}. Change what it names and post again.`;
  if (error instanceof TypeError) {
    return "This node did not answer: check your connection, then post again. Your text is still here.";
  }
  return `Not posted: ${message}. Your text is still here; post again, or reload the page first if it was sent.`;
}

/**
 * Send the post or reply in form, showing each step, then go to the new post's page or show the reply in place.
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
    const report = (/** @type {string} */ state, /** @type {string} */ text, /** @type {string} */ step, detail) => {
      setStatus(status, state, text);
      markStep(form, step, state === "confirmed" ? "done" : "active", detail);
    };
    const post = await submitPost({ title, body, topic, parentId, parentDigest }, report);
    await showAccount();
    noteFirstPost();
    if (!parentId) {
      flashNext(`Post ${post.id} is on chain in block ${post.block_number} and shown on this node.`);
      location.assign(`/posts/${post.id}`);
      return;
    }
    toast(`Reply ${post.id} is on chain in block ${post.block_number}.`);
    form.reset();
    await refreshMain(`#post-${post.id}`);
  } catch (error) {
    markStep(form, error?.step || "sign", "failed");
    setStatus(status, "error", describeFailure(error));
  } finally {
    if (button instanceof HTMLButtonElement) button.disabled = false;
  }
}

/**
 * Close the inline reply form in holder, giving focus back to the "Reply" link that opened it.
 * @param {HTMLElement} holder
 */
function closeReplyForm(holder) {
  const link = document.querySelector(`a.reply-link[data-parent-id="${holder.dataset.parentId}"]`);
  holder.remove();
  if (link instanceof HTMLElement) link.focus();
}

/**
 * Open (or focus) the reply form right under the post of link, from the page's reply template.
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
  holder.dataset.parentId = parentId;
  holder.append(...new DOMParser().parseFromString(html, "text/html").body.childNodes);
  // the reply names its parent by the digest on this page, not by whatever holds the id when it is sent
  const form = holder.querySelector("form.compose");
  if (form instanceof HTMLFormElement) form.dataset.parentDigest = link.dataset.parentDigest;
  holder.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeReplyForm(holder);
    }
  });
  holder.querySelector("[data-cancel-reply]")?.addEventListener("click", () => closeReplyForm(holder));
  link.closest(".post")?.after(holder);
  holder.querySelector("textarea")?.focus();
}

/** Open the reply form of the post with ``postId`` (the keyboard's "r"), when the page has its "Reply" link. */
export function replyTo(/** @type {string} */ postId) {
  const link = document.querySelector(`a.reply-link[data-parent-id="${postId}"]`);
  if (link instanceof HTMLAnchorElement) openReplyForm(link);
  return link !== null;
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
