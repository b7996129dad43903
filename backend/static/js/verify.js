// @ts-check
// The reader's own check of what this node shows (issue 12): trust no node, this one included.
// Each page carries the raw facts it was built from (post id, digest, author, parent, tallies on each
// <article>; the index's block and post count on #chain-check). This module asks a chain node, not this
// one, for getPost of every shown post and postCount, in one batched JSON-RPC request at that block; it
// hashes each post's file from /ipfs/{cid} with SubtleCrypto, compares it with the digest on chain, and
// compares the title and the text shown with what the verified file renders to under the same Markdown rules.

import { Interface, getAddress } from "/static/vendor/ethers.min.js";
import { renderPreview } from "./preview.js";

const RPC_ITEM = "indelible.rpc";
const BOARD = new Interface([
  "function getPost(uint256 postId) view returns (address author, uint256 parentId, bytes32 digest, uint64 createdAt, uint128 upvotes, uint128 downvotes)",
  "function postCount() view returns (uint256)",
]);

/** The RPC URL checks go to: the reader's own, else the one this node announces. */
export function rpcUrl(/** @type {HTMLElement} */ section) {
  return localStorage.getItem(RPC_ITEM) || section.dataset.rpcUrl || "";
}

/**
 * One batched JSON-RPC request of eth_calls at ``block``; the answers in the order of ``calls``.
 * @param {string} url @param {string} to @param {number} block @param {string[]} calls
 * @returns {Promise<{result?: string, error?: {message: string}}[]>}
 */
async function batchCall(url, to, block, calls) {
  const tag = `0x${block.toString(16)}`;
  const body = calls.map((data, id) => ({ jsonrpc: "2.0", id, method: "eth_call", params: [{ to, data }, tag] }));
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`the RPC answered HTTP ${response.status}`);
  const answers = await response.json();
  if (!Array.isArray(answers)) throw new Error("the RPC does not answer batched requests");
  const byId = new Map(answers.map((answer) => [answer.id, answer]));
  return calls.map((_, id) => byId.get(id) || { error: { message: "no answer" } });
}

/** @type {Map<string, Promise<{bytes: Uint8Array, digest: string} | null>>} */
const files = new Map();

/** The bytes of ``cid`` from this node and their sha256 as 0x-hex (null when it has no copy); fetched once. */
function fileOf(/** @type {string} */ cid) {
  if (!files.has(cid)) files.set(cid, fetchFile(cid));
  return /** @type {Promise<{bytes: Uint8Array, digest: string} | null>} */ (files.get(cid));
}

async function fetchFile(/** @type {string} */ cid) {
  const response = await fetch(`/ipfs/${cid}?format=raw`);
  if (!response.ok) return null;
  const bytes = new Uint8Array(await response.arrayBuffer());
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return { bytes, digest: `0x${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}` };
}

const squash = (/** @type {string | null | undefined} */ text) => (text || "").replace(/\s+/g, " ").trim();

/** Elements of ``article``'s own content matching ``selector`` (never a nested post's). */
function own(/** @type {HTMLElement} */ article, /** @type {string} */ selector) {
  return /** @type {HTMLElement | undefined} */ (
    Array.from(article.querySelectorAll(selector)).find((el) => el.closest("article") === article)
  );
}

/**
 * What differs between what the page shows of ``article`` and the chain's ``post``, in the reader's words.
 * @param {HTMLElement} article @param {any} post
 */
async function differences(article, post) {
  const facts = article.dataset;
  const found = [];
  const up = BigInt(facts.upvotes || "0");
  const down = BigInt(facts.downvotes || "0");
  if (up !== post.upvotes) found.push(`this node shows ${up} up; the chain says ${post.upvotes}`);
  if (down !== post.downvotes) found.push(`this node shows ${down} down; the chain says ${post.downvotes}`);
  if (getAddress(facts.author || "") !== getAddress(post.author)) {
    found.push(`this node names ${facts.author} as the author; the chain says ${post.author}`);
  }
  if (BigInt(facts.parentId || "0") !== post.parentId) {
    found.push(`this node shows it in reply to post ${facts.parentId}; the chain says ${post.parentId}`);
  }
  if ((facts.digest || "").toLowerCase() !== String(post.digest).toLowerCase()) {
    found.push("this node shows another digest than the chain's");
    return found;
  }
  if (facts.contentStatus !== "pinned") return found;
  const file = await fileOf(facts.cid || "");
  if (file === null) return [...found, "this node shows text but does not serve its file"];
  if (file.digest !== String(post.digest).toLowerCase()) {
    return [...found, "the file this node serves is not what the author posted (its sha256 differs from the chain's)"];
  }
  const document = JSON.parse(new TextDecoder().decode(file.bytes));
  const title = own(article, ".post-title a");
  const body = own(article, ".post-body");
  const titleDiffers = title && post.parentId === 0n && squash(title.textContent) !== squash(document.title);
  const bodyDiffers = body && squash(renderPreview(document.body).textContent) !== squash(body.textContent);
  if (titleDiffers || bodyDiffers) found.push("the text differs from what the author posted");
  return found;
}

/** Mark one post: checked, or a plain warning naming what differs. */
function mark(/** @type {HTMLElement} */ article, /** @type {string[]} */ found, /** @type {number} */ block) {
  const note = own(article, "[data-chain-mark]");
  if (!note) return;
  note.hidden = false;
  note.classList.toggle("chain-warning", found.length > 0);
  note.classList.toggle("chain-checked", found.length === 0);
  note.setAttribute("role", found.length ? "alert" : "note");
  note.textContent = found.length ? `Warning: ${found.join("; ")}.` : `checked against chain at block ${block}`;
}

/** The form that lets the reader pick the RPC URL checks go to (kept in this browser). */
function rpcForm(/** @type {HTMLElement} */ section) {
  const form = document.createElement("form");
  form.className = "chain-rpc";
  const label = document.createElement("label");
  label.textContent = "Check against the chain through ";
  const input = document.createElement("input");
  input.type = "url";
  input.name = "rpc";
  input.value = rpcUrl(section);
  input.placeholder = "https://your-node.example";
  label.append(input);
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = "Use this RPC";
  form.append(label, " ", button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) localStorage.setItem(RPC_ITEM, input.value.trim());
    else localStorage.removeItem(RPC_ITEM);
    location.reload();
  });
  section.append(form);
}

/** Check every post on the page against the chain; resolves when every mark is set. */
export async function verifyPage() {
  const section = document.getElementById("chain-check");
  if (!section) return;
  const summary = /** @type {HTMLElement} */ (section.querySelector("[data-chain-summary]"));
  rpcForm(section);
  const started = performance.now();
  const block = Number(section.dataset.indexBlock);
  const url = rpcUrl(section);
  const articles = /** @type {HTMLElement[]} */ (Array.from(document.querySelectorAll("article[data-post-id]")));
  summary.hidden = false;
  if (!url) {
    summary.textContent = "Not checked against the chain: this node announces no public RPC; set your own below.";
    return;
  }
  // the files are fetched while the chain is asked: the two waits overlap
  for (const article of articles) if (article.dataset.contentStatus === "pinned") fileOf(article.dataset.cid || "");
  const calls = [
    BOARD.encodeFunctionData("postCount"),
    ...articles.map((a) => BOARD.encodeFunctionData("getPost", [a.dataset.postId])),
  ];
  let answers;
  try {
    answers = await batchCall(url, section.dataset.contract || "", block, calls);
  } catch (error) {
    summary.textContent = `Not checked against the chain: ${new URL(url).host} did not answer (${error.message}).`;
    return;
  }
  section.dataset.rpcMs = String(Math.round(performance.now() - started));
  const warnings = [];
  const count = answers[0].result ? BOARD.decodeFunctionResult("postCount", answers[0].result)[0] : null;
  const shown = BigInt(section.dataset.postCount || "0");
  if (count !== null && count !== shown) warnings.push(`this node shows ${shown} of ${count} posts`);
  const results = await Promise.all(
    articles.map(async (article, i) => {
      const answer = answers[i + 1];
      if (!answer.result) return ["the chain has no such post at this block"];
      return differences(article, BOARD.decodeFunctionResult("getPost", answer.result));
    }),
  );
  let flagged = 0;
  articles.forEach((article, i) => {
    mark(article, results[i], block);
    if (results[i].length) flagged += 1;
  });
  if (flagged) warnings.push(`${flagged} of ${articles.length} posts shown differ from the chain`);
  summary.classList.toggle("chain-warning", warnings.length > 0);
  summary.textContent = warnings.length
    ? `Warning: ${warnings.join("; ")} (checked at block ${block} through ${new URL(url).host}).`
    : `All ${articles.length} posts shown checked against chain at block ${block} through ${new URL(url).host}.`;
  section.dataset.checkMs = String(Math.round(performance.now() - started));
  section.dataset.checked = "true";
}
