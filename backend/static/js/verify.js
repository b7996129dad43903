// @ts-check
// The reader's own check of what this node shows: trust no node, this one included.
// Each page carries the raw facts it was built from (post id, digest, author, parent, tallies on each
// <article>; the index's block, chain id and post count on #chain-check, all read in one snapshot of the
// index). This module asks a chain node, not this one, for getPost of every shown post and postCount at that
// block: one batched JSON-RPC request to an RPC URL, or through the reader's wallet (EIP-1193 has no batch: one
// request per call, all at once). Meanwhile it hashes each post's file from /ipfs/{cid} with SubtleCrypto,
// compares it with the digest on chain, and compares the title and the text shown with what the verified file
// renders to under the same Markdown rules (a search result's snippet: with the verified source).

import { Interface, getAddress } from "/static/vendor/ethers.min.js";
import { renderPreview } from "./preview.js";
import { pageSources, postLies, proofSummary, provePage, provenAnswers, provenMark, provenPost, rpcSource } from "./proof.js";

const RPC_ITEM = "indelible.rpc";
const VIA_ITEM = "indelible.check-via"; // "wallet" when the reader checks through their wallet's provider
const BOARD = new Interface([
  "function getPost(uint256 postId) view returns (address author, uint256 parentId, bytes32 digest, uint64 createdAt, uint128 upvotes, uint128 downvotes)",
  "function postCount() view returns (uint256)",
]);

/** The RPC URL checks go to: the reader's own, else the one this node announces. */
export function rpcUrl(/** @type {HTMLElement} */ section) {
  return localStorage.getItem(RPC_ITEM) || section.dataset.rpcUrl || "";
}

/** The reader's wallet's EIP-1193 provider, when the reader chose to check through it and one is injected. */
function walletProvider() {
  const ethereum = /** @type {any} */ (window).ethereum;
  return localStorage.getItem(VIA_ITEM) === "wallet" && ethereum && typeof ethereum.request === "function"
    ? ethereum
    : null;
}

/** @typedef {{result?: string, error?: {message: string}}} Answer */

/**
 * The JSON-RPC requests of a check: eth_chainId, then one eth_call per encoded call at ``block``.
 * @param {string} to @param {number} block @param {string[]} calls
 */
function requests(to, block, calls) {
  const tag = `0x${block.toString(16)}`;
  return [
    { method: "eth_chainId", params: [] },
    ...calls.map((data) => ({ method: "eth_call", params: [{ to, data }, tag] })),
  ];
}

/**
 * The same requests through an EIP-1193 provider, all at once (the standard has no batch).
 * @param {any} provider @param {{method: string, params: any[]}[]} asked @returns {Promise<Answer[]>}
 */
async function providerCalls(provider, asked) {
  const settled = await Promise.allSettled(asked.map((request) => provider.request(request)));
  if (settled.every((answer) => answer.status === "rejected")) {
    throw new Error(/** @type {PromiseRejectedResult} */ (settled[0]).reason?.message || "no answer");
  }
  return settled.map((answer) =>
    answer.status === "fulfilled" ? { result: answer.value } : { error: { message: String(answer.reason?.message) } },
  );
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

/** @typedef {{digest: string | null, textDiffers: boolean}} Content */

/**
 * The sha256 of the file this node serves for ``article`` (null: none) and whether the title and text shown
 * differ from what that file renders to. It needs no chain, so it runs while the chain is asked; it never throws.
 * @param {HTMLElement} article @returns {Promise<Content>}
 */
async function contentOf(article) {
  let file;
  try {
    file = await fileOf(article.dataset.cid || "");
  } catch {
    return { digest: null, textDiffers: false };
  }
  if (file === null) return { digest: null, textDiffers: false };
  let document;
  try {
    document = JSON.parse(new TextDecoder().decode(file.bytes));
  } catch {
    return { digest: file.digest, textDiffers: true };
  }
  const title = own(article, ".post-title a");
  const body = own(article, ".post-body");
  const snippet = own(article, ".search-snippet");
  const textDiffers = Boolean(
    (title && squash(title.textContent) !== squash(document.title)) ||
      (body && squash(renderPreview(document.body).textContent) !== squash(body.textContent)) ||
      (snippet && !squash(document.body).includes(squash(snippet.textContent).replace(/^…|…$/g, "").trim())),
  );
  return { digest: file.digest, textDiffers };
}

/**
 * What differs between what the page shows of ``article`` and the chain's ``post``, in the reader's words.
 * @param {HTMLElement} article @param {any} post @param {Promise<Content> | null} content
 */
async function differences(article, post, content) {
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
  if (content === null) return found;
  const { digest, textDiffers } = await content;
  if (digest === null) return [...found, "this node shows text but does not serve its file"];
  if (digest !== String(post.digest).toLowerCase()) {
    return [...found, "the file this node serves is not what the author posted (its sha256 differs from the chain's)"];
  }
  if (textDiffers) found.push("the text differs from what the author posted");
  return found;
}

/** Mark one post: checked (``checked`` says how far), or a plain warning naming what differs. */
function mark(/** @type {HTMLElement} */ article, /** @type {string[]} */ found, /** @type {string} */ checked) {
  const note = own(article, "[data-chain-mark]");
  if (!note) return;
  note.hidden = false;
  note.classList.toggle("chain-warning", found.length > 0);
  note.classList.toggle("chain-checked", found.length === 0);
  note.setAttribute("role", found.length ? "alert" : "note");
  note.textContent = found.length ? `Warning: ${found.join("; ")}.` : checked;
}

/** The form that lets the reader pick what checks go through: an RPC URL or their wallet (kept in this browser). */
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
    localStorage.removeItem(VIA_ITEM);
    location.reload();
  });
  const ethereum = /** @type {any} */ (window).ethereum;
  if (ethereum && typeof ethereum.request === "function") {
    const wallet = document.createElement("button");
    wallet.type = "button";
    wallet.name = "via-wallet";
    const using = localStorage.getItem(VIA_ITEM) === "wallet";
    wallet.textContent = using ? "Check through this RPC instead of your wallet" : "Check through your wallet";
    wallet.addEventListener("click", () => {
      if (using) localStorage.removeItem(VIA_ITEM);
      else localStorage.setItem(VIA_ITEM, "wallet");
      location.reload();
    });
    form.append(" ", wallet);
  }
  section.append(form);
}

/** Check every post on the page against the chain; resolves when every mark is set. */
export async function verifyPage() {
  const settingsPlace = document.getElementById("rpc-settings"); // the RPC is a setting, on the Settings page
  if (settingsPlace) rpcForm(settingsPlace);
  const section = document.getElementById("chain-check");
  if (!section) return;
  const summary = /** @type {HTMLElement} */ (section.querySelector("[data-chain-summary]"));
  const started = performance.now();
  const block = Number(section.dataset.indexBlock);
  const wallet = walletProvider();
  const url = rpcUrl(section);
  const source = wallet ? "your wallet" : url ? new URL(url).host : "";
  section.dataset.checkSource = wallet ? "wallet" : "rpc";
  const articles = /** @type {HTMLElement[]} */ (Array.from(document.querySelectorAll("article[data-post-id]")));
  summary.hidden = false;
  if (!wallet && !url) {
    summary.textContent = "Not checked against the chain: this node announces no public RPC; set your own in Settings.";
    return;
  }
  const calls = [
    BOARD.encodeFunctionData("postCount"),
    ...articles.map((a) => BOARD.encodeFunctionData("getPost", [a.dataset.postId])),
  ];
  const asked = requests(section.dataset.contract || "", block, calls);
  // while the chain is asked, the files are fetched, hashed, re-rendered and compared with the page
  const contents = articles.map((a) => (a.dataset.contentStatus === "pinned" ? contentOf(a) : null));
  // the facts are proven first (proof.js: header from every source the reader named, proofs from the first); the
  // proofs carry all the calls would, so the calls go out only when nothing could be proven or a source lied
  const postIds = articles.map((a) => a.dataset.postId || "");
  const chain = { block, chainId: section.dataset.chainId || "0", address: section.dataset.contract || "", postIds };
  const proven = await provePage({ sources: pageSources(url, wallet), ...chain });
  const answering =
    provenAnswers(proven, chain) ?? (wallet ? providerCalls(wallet, asked) : rpcSource(url).send(asked));
  let answers;
  try {
    answers = await answering;
  } catch (error) {
    summary.textContent = `Not checked against the chain: ${source} did not answer (${error.message}).`;
    return;
  }
  section.dataset.rpcMs = String(Math.round(performance.now() - started));
  const chainId = answers.shift()?.result;
  const expected = section.dataset.chainId;
  if (chainId && expected && BigInt(chainId) !== BigInt(expected)) {
    summary.classList.add("chain-warning");
    summary.textContent = `Not checked: ${source} serves chain ${BigInt(chainId)}; this Board is on chain ${expected}.`;
    return;
  }
  const warnings = [];
  const called = answers[0].result ? BOARD.decodeFunctionResult("postCount", answers[0].result)[0] : null;
  const count = proven.count ?? called;
  const shown = BigInt(section.dataset.postCount || "0");
  if (count !== null && count !== shown) warnings.push(`this node shows ${shown} of ${count} posts`);
  const results = await Promise.all(
    articles.map(async (article, i) => {
      const answer = answers[i + 1];
      const id = article.dataset.postId || "";
      const post = answer.result ? BOARD.decodeFunctionResult("getPost", answer.result) : null;
      const lies = postLies(proven, id, /** @type {any} */ (post));
      const onChain = provenPost(proven, id) ?? post;
      if (!onChain) return lies.length ? lies : ["the chain has no such post at this block"];
      return [...lies, ...(await differences(article, onChain, contents[i]))];
    }),
  );
  let flagged = 0;
  articles.forEach((article, i) => {
    mark(article, results[i], provenMark(proven) ?? `checked against chain at block ${block}`);
    if (results[i].length) flagged += 1;
  });
  const lied = proven.status === "lie"; // a source lied about the block or the proofs: nothing is proven
  if (flagged && !lied) warnings.push(`${flagged} of ${articles.length} posts shown differ from the chain`);
  summary.classList.toggle("chain-warning", warnings.length > 0);
  summary.textContent = warnings.length
    ? `Warning: ${warnings.join("; ")} (checked at block ${block} through ${source}).`
    : `All ${articles.length} posts shown checked against chain at block ${block} through ${source}.`;
  summary.textContent = lied
    ? `Warning: ${proofSummary(proven)}${warnings.length ? ` Also: ${warnings.join("; ")}.` : ""}`
    : `${summary.textContent} ${proofSummary(proven)}`;
  if (lied) summary.classList.add("chain-warning");
  section.dataset.checkMs = String(Math.round(performance.now() - started));
  section.dataset.checked = "true";
}
