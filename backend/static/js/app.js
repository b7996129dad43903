// Progressive enhancement of the server-rendered pages: everything here is
// optional for reading; posting and voting need it because keys live here.

import { castVote, submitPost } from "./actions.js";
import { votesOf } from "./api.js";
import { currentAddress, myVotes, rememberVotes, signerMode } from "./signer.js";
import { initKeyPage } from "./keypage.js";
import { initPreview } from "./preview.js";
import { relativeTime } from "./time.js";

document.documentElement.classList.add("js");

// a message carried across a navigation (after a new post, to its page)
const FLASH_ITEM = "indelible.flash";

function toast(text) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const line = document.createElement("p");
  line.textContent = text;
  box.append(line);
  setTimeout(() => line.remove(), 6000);
}

function setStatus(element, state, text) {
  if (!element) return;
  element.dataset.state = state;
  element.textContent = text;
}

/** Replace <main> with the freshly rendered page, keeping the reader where they were. */
async function refreshMain(focusSelector) {
  const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("main");
  const main = document.querySelector("main");
  if (!fresh || !main) return;
  main.replaceChildren(...fresh.childNodes);
  await markVotes();
  updateTimes();
  const target = focusSelector && document.querySelector(focusSelector);
  if (target) {
    target.setAttribute("tabindex", "-1");
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }
}

// ---- times -----------------------------------------------------------------

function updateTimes() {
  for (const time of document.querySelectorAll("time[data-ts]")) {
    time.textContent = relativeTime(Number(time.dataset.ts));
  }
}

// ---- who am I ---------------------------------------------------------------

async function showAccount() {
  const address = await currentAddress();
  const box = document.getElementById("account");
  const link = document.getElementById("account-link");
  if (!box || !link) return address;
  if (address) {
    link.textContent = `${address.slice(0, 6)}…${address.slice(-4)}`;
    link.title = address;
    link.href = `/authors/${address}`;
    link.dataset.address = address;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
  return address;
}

// Every look at the reader's votes and every settled vote takes a number: only the latest may press buttons.
let voteView = 0;

/** Press the buttons of direction (+1, -1, 0: none) in form, and keep it as the reader's vote there. */
function showVote(form, direction) {
  form.dataset.myVote = String(direction);
  form.querySelector(".vote-up").setAttribute("aria-pressed", String(direction === 1));
  form.querySelector(".vote-down").setAttribute("aria-pressed", String(direction === -1));
}

/** Show the reader's votes on the page: this browser's cache at once, then the index's answer. */
async function markVotes() {
  const view = ++voteView;
  const address = await currentAddress();
  if (view !== voteView) return;
  // a form whose vote is on its way shows that vote's outcome when it settles
  const forms = [...document.querySelectorAll("form.vote")].filter((form) => !form.querySelector("[aria-busy=true]"));
  const cached = myVotes(address);
  forms.forEach((form) => showVote(form, cached[form.dataset.postId] || 0));
  if (!address || !forms.length) return;
  const postIds = forms.map((form) => form.dataset.postId);
  let votes;
  try {
    votes = await votesOf(address, postIds);
  } catch {
    return; // the index did not answer: the cache stands
  }
  if (view !== voteView) return; // a later look, or a vote settled meanwhile
  rememberVotes(address, postIds, votes);
  forms.forEach((form) => showVote(form, votes[form.dataset.postId] || 0));
}

// ---- voting -----------------------------------------------------------------

function updateScores(post) {
  for (const form of document.querySelectorAll(`form.vote[data-post-id="${post.id}"]`)) {
    form.querySelector(".score-value").textContent = String(post.score);
    form.querySelector(".score").title = `${post.upvotes} up, ${post.downvotes} down`;
  }
}

async function onVote(form, button) {
  const postId = Number(form.dataset.postId);
  const previous = Number(form.dataset.myVote || 0);
  const direction = previous === Number(button.value) ? 0 : Number(button.value);
  const buttons = form.querySelectorAll("button");
  const forms = () => document.querySelectorAll(`form.vote[data-post-id="${postId}"]`);
  buttons.forEach((b) => b.setAttribute("aria-busy", "true"));
  try {
    const report = (state, text) => {
      form.dataset.state = state;
      toast(text);
    };
    const { post } = await castVote(postId, direction, report, form.dataset.postDigest);
    voteView += 1; // this vote outranks what a look begun before it may still bring
    updateScores(post);
    forms().forEach((f) => showVote(f, direction));
    await showAccount();
  } catch (error) {
    form.dataset.state = "error";
    toast(`Vote failed: ${error.shortMessage || error.message}`);
  } finally {
    buttons.forEach((b) => b.removeAttribute("aria-busy"));
  }
}

// ---- posting ----------------------------------------------------------------

async function onCompose(form) {
  const status = form.querySelector(".tx-status");
  const button = form.querySelector("button[type=submit]");
  const parentId = Number(form.dataset.parentId || "0");
  const parentDigest = form.dataset.parentDigest || undefined;
  const title = form.elements.title ? form.elements.title.value.trim() : undefined;
  const body = form.elements.body.value;
  if (!parentId && !title) {
    setStatus(status, "error", "A post needs a title.");
    form.elements.title.focus();
    return;
  }
  if (parentId && !body.trim()) {
    setStatus(status, "error", "A reply needs some text.");
    form.elements.body.focus();
    return;
  }
  button.disabled = true;
  try {
    const post = await submitPost({ title, body, parentId, parentDigest }, (state, text) => setStatus(status, state, text));
    await showAccount();
    if (!parentId) {
      sessionStorage.setItem(FLASH_ITEM, `Post ${post.id} confirmed in block ${post.block_number}.`);
      location.assign(`/posts/${post.id}`);
      return;
    }
    toast(`Reply ${post.id} confirmed.`);
    form.reset();
    await refreshMain(`#post-${post.id}`);
  } catch (error) {
    setStatus(status, "error", `Not posted: ${error.shortMessage || error.message}`);
  } finally {
    button.disabled = false;
  }
}

function openReplyForm(link) {
  const parentId = link.dataset.parentId;
  const existing = document.getElementById(`reply-form-${parentId}`);
  if (existing) {
    existing.querySelector("textarea").focus();
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
  holder.querySelector("form.compose").dataset.parentDigest = link.dataset.parentDigest;
  link.closest(".post").after(holder);
  holder.querySelector("textarea").focus();
}

// ---- status page --------------------------------------------------------------

function liveStatus() {
  if (!document.getElementById("status")) return;
  // the status page follows the chain by itself: re-render it every few seconds
  setInterval(async () => {
    const response = await fetch("/status", { cache: "no-store" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("main");
    const main = document.querySelector("main");
    if (fresh && main && !main.contains(document.activeElement)) main.replaceChildren(...fresh.childNodes);
  }, 5000);
}

// ---- wiring -------------------------------------------------------------------

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.matches("form.vote")) {
    event.preventDefault();
    const button = event.submitter || form.querySelector(".vote-up");
    if (button.getAttribute("aria-busy") !== "true") onVote(form, button);
  } else if (form.matches("form.compose")) {
    event.preventDefault();
    onCompose(form);
  }
});

document.addEventListener("click", (event) => {
  const link = event.target.closest("a.reply-link");
  if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    event.preventDefault();
    openReplyForm(link);
  }
});

const signerInfo = document.getElementById("signer-info");
if (signerInfo) {
  signerInfo.textContent =
    signerMode() === "wallet"
      ? "Your wallet extension sends this post to the chain itself."
      : "Your post is signed by this browser's key and relayed, so you need no ether.";
}

const flash = sessionStorage.getItem(FLASH_ITEM);
if (flash) {
  sessionStorage.removeItem(FLASH_ITEM);
  toast(flash);
}
updateTimes();
setInterval(updateTimes, 30000);
showAccount().then(markVotes);
initKeyPage(showAccount);
initPreview();
liveStatus();
