// @ts-check
// Voting on the page: the reader's votes pressed on every vote form, and a vote cast from one.

import { showAccount } from "./account.js";
import { castVote } from "./actions.js";
import { getJSON, votesOf } from "./api.js";
import { lensQuery, lensScore, tallyWords } from "./score.js";
import { currentAddress, myVotes, rememberVotes } from "./signer.js";
import { toast } from "./ui.js";

// Every look at the reader's votes and every settled vote takes a number: only the latest may press buttons.
let voteView = 0;

/**
 * Press the buttons of direction (+1, -1, 0: none) in form, and keep it as the reader's vote there.
 * @param {HTMLFormElement} form
 * @param {number} direction
 */
function showVote(form, direction) {
  form.dataset.myVote = String(direction);
  form.querySelector(".vote-up")?.setAttribute("aria-pressed", String(direction === 1));
  form.querySelector(".vote-down")?.setAttribute("aria-pressed", String(direction === -1));
}

/** @returns {HTMLFormElement[]} the vote forms on the page (of one post when postId is given) */
function voteForms(postId) {
  const selector = postId === undefined ? "form.vote" : `form.vote[data-post-id="${postId}"]`;
  return [...document.querySelectorAll(selector)].filter((form) => form instanceof HTMLFormElement);
}

/** Show the reader's votes on the page: this browser's cache at once, then the index's answer. */
export async function markVotes() {
  const view = ++voteView;
  const address = await currentAddress();
  if (view !== voteView) return;
  // a form whose vote is on its way shows that vote's outcome when it settles
  const forms = voteForms().filter((form) => !form.querySelector("[aria-busy=true]"));
  const cached = myVotes(address);
  forms.forEach((form) => showVote(form, cached[form.dataset.postId ?? ""] || 0));
  if (!address || !forms.length) return;
  const postIds = forms.map((form) => form.dataset.postId ?? "");
  let votes;
  try {
    votes = await votesOf(address, postIds);
  } catch {
    return; // the index did not answer: the cache stands
  }
  if (view !== voteView) return; // a later look, or a vote settled meanwhile
  rememberVotes(address, postIds, votes);
  forms.forEach((form) => showVote(form, votes[form.dataset.postId ?? ""] || 0));
}

/**
 * Show the post's score and tallies as the page's lens counts them, asked of the index after a vote.
 * @param {number} postId
 */
async function updateScores(postId) {
  const forms = voteForms(postId);
  const lens = forms[0]?.querySelector("details.score")?.getAttribute("data-lens") || "default";
  const post = (await getJSON(`/api/posts/${postId}?depth=0&${lensQuery(lens)}`)).post;
  for (const form of forms) {
    const value = form.querySelector(".score-value");
    const summary = form.querySelector(".score > summary");
    const tally = form.querySelector(".score .tally");
    const words = tallyWords(post, lens);
    if (value) value.textContent = String(lensScore(post, lens));
    if (summary instanceof HTMLElement) summary.title = words;
    if (tally) tally.textContent = words;
  }
}

/**
 * Cast (or withdraw, pressing the pressed button again) the vote of button in form.
 * @param {HTMLFormElement} form
 * @param {HTMLButtonElement} button
 */
async function onVote(form, button) {
  const postId = Number(form.dataset.postId);
  const previous = Number(form.dataset.myVote || 0);
  const direction = previous === Number(button.value) ? 0 : Number(button.value);
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => b.setAttribute("aria-busy", "true"));
  try {
    const report = (/** @type {string} */ state, /** @type {string} */ text) => {
      form.dataset.state = state;
      toast(text);
    };
    await castVote(postId, direction, report, form.dataset.postDigest);
    voteView += 1; // this vote outranks what a look begun before it may still bring
    voteForms(postId).forEach((f) => showVote(f, direction));
    await updateScores(postId);
    await showAccount();
  } catch (error) {
    form.dataset.state = "error";
    toast(`Vote failed: ${error.shortMessage || error.message}`);
  } finally {
    buttons.forEach((b) => b.removeAttribute("aria-busy"));
  }
}

/** Handle every vote form's submit on the page, now and after <main> is replaced. */
export function initVoting() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.vote")) return;
    event.preventDefault();
    const button = event.submitter || form.querySelector(".vote-up");
    if (button instanceof HTMLButtonElement && button.getAttribute("aria-busy") !== "true") onVote(form, button);
  });
}
