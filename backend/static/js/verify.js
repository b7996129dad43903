// @ts-check
// The reader's own check of what this node shows: trust no node, this one included.
// Each page carries the raw facts it was built from (post id, digest, author, parent, tallies, content status
// on each <article>; the index's block, chain id, Board and post count on #chain-check, all read in one
// snapshot of the index). This module asks a chain node, not this one, for getPost of every shown post and
// postCount at that block: one batched JSON-RPC request to an RPC URL, or through the reader's wallet
// (EIP-1193 has no batch: one request per call, all at once). Meanwhile it fetches each post's file by CID,
// whatever the node says of it (pinned, invalid or missing), from this node's gateway and from the reader's
// own gateway when set, keeps the copy whose sha256 is the digest on chain, validates it with the document
// rule (./postdoc.js) and compares the title and the body's structure (./markdown.js, the server's renderer)
// with what the page shows.
//
// checkPosts() returns one result per post and touches nothing; markPosts() and verifyPage() show them.

import { Interface, getAddress } from "/static/vendor/ethers.min.js";
import { bodyDifferences, plainBody, renderBody, shapeOf } from "./markdown.js";
import { InvalidDocument, MAX_BYTES, parseDocument } from "./postdoc.js";
import {
  pageSources,
  postLies,
  proofSummary,
  provePage,
  provenAnswers,
  provenMark,
  provenPost,
  rpcSource,
} from "./proof.js";

const RPC_ITEM = "indelible.rpc";
const VIA_ITEM = "indelible.check-via"; // "wallet" when the reader checks through their wallet's provider
export const GATEWAY_ITEM = "indelible.gateway"; // the reader's own IPFS gateway (Settings), e.g. https://gw.example
export const BOARD_ITEM = "indelible.board"; // the Board the reader pinned (Settings): {"address", "chainId"}
const MAX_FETCH = 4 * MAX_BYTES;
const PLAIN_RENDERED_UP_TO = 4096; // characters of a body shown as plain text that are rendered to compare // a file over 64 KiB is invalid anyway; past this a source is not read
const BOARD = new Interface([
  "function getPost(uint256 postId) view returns (address author, uint256 parentId, bytes32 digest, uint64 createdAt, uint128 upvotes, uint128 downvotes)",
  "function postCount() view returns (uint256)",
]);

/** The RPC URL checks go to: the reader's own, else the one this node announces. */
export function rpcUrl(/** @type {HTMLElement} */ section) {
  return localStorage.getItem(RPC_ITEM) || section.dataset.rpcUrl || "";
}

/** The reader's own gateway (no trailing slash), or "". */
export function readerGateway() {
  return (localStorage.getItem(GATEWAY_ITEM) || "").replace(/\/+$/, "");
}

/** @typedef {{address: string, chainId: string}} PinnedBoard */

/** The Board the reader pinned in Settings, or null. @returns {PinnedBoard | null} */
export function pinnedBoard() {
  try {
    const pinned = JSON.parse(localStorage.getItem(BOARD_ITEM) || "null");
    if (pinned && typeof pinned.address === "string" && /^\d+$/.test(String(pinned.chainId))) {
      return { address: getAddress(pinned.address), chainId: String(pinned.chainId) };
    }
  } catch {
    // not a pin: as if none
  }
  return null;
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

/** @typedef {{source: string, bytes: Uint8Array, digest: string}} File */

/** @type {Map<string, Promise<File | null>>} */
const files = new Map();

/** The bytes of ``cid`` from the gateway at ``base`` ("" for this node) and their sha256 as 0x-hex; null when
 * it serves none (or too much); fetched once per source. @param {string} base @param {string} cid */
export function fileFrom(base, cid) {
  const key = `${base} ${cid}`;
  if (!files.has(key)) files.set(key, fetchFile(base, cid).catch(() => null));
  return /** @type {Promise<File | null>} */ (files.get(key));
}

async function fetchFile(/** @type {string} */ base, /** @type {string} */ cid) {
  if (!/^[a-z2-7]+$/.test(cid)) return null; // a CIDv1 in base32, nothing else reaches a URL
  const response = await fetch(`${base}/ipfs/${cid}?format=raw`);
  if (!response.ok || Number(response.headers.get("content-length") || 0) > MAX_FETCH) return null;
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_FETCH) return null;
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const digest = `0x${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  return { source: base ? new URL(base).host : "this node", bytes, digest };
}

/** The sources a post's file is asked from: this node, and the reader's own gateway when set. */
function sources() {
  const gateway = readerGateway();
  return gateway ? ["", gateway] : [""];
}

const squash = (/** @type {string | null | undefined} */ text) => (text || "").replace(/\s+/g, " ").trim();

/** Elements of ``article``'s own content matching ``selector`` (never a nested post's). */
function own(/** @type {HTMLElement} */ article, /** @type {string} */ selector) {
  return /** @type {HTMLElement | undefined} */ (
    Array.from(article.querySelectorAll(selector)).find((el) => el.closest("article") === article)
  );
}

/**
 * One post's result: "checked", "lie" (``found`` names each), or "unverified" (``found`` says why).
 * ``hidden`` is the verified document of a valid post the node calls invalid or missing.
 * @typedef {{article: HTMLElement, postId: string, status: "checked" | "lie" | "unverified", found: string[],
 *   hidden?: import("./postdoc.js").PostDocument, shownAs?: "plain"}} PostResult
 */

/**
 * What differs between the title, body and snippet ``article`` shows and the verified ``document``.
 * @param {HTMLElement} article @param {import("./postdoc.js").PostDocument} document
 * @returns {{found: string[], shownAs?: "plain"}}
 */
export function contentDifferences(article, document) {
  const found = [];
  const title = own(article, ".post-title a");
  if (title && squash(title.textContent) !== squash(document.title)) {
    found.push("the title differs from what the author posted");
  }
  const snippet = own(article, ".search-snippet");
  if (snippet && !squash(document.body).includes(squash(snippet.textContent).replace(/^…|…$/g, "").trim())) {
    found.push("the text differs from what the author posted");
  }
  const body = own(article, ".post-body");
  if (!body) return { found };
  // the server's CPU-time fallback shows the source as escaped text: recomputed exactly, it is no lie. A long body
  // shown so is not rendered here too (what the server gave up on can take the browser seconds); a short one is,
  // to say "shown as its source text" only where the rendering would differ
  const shown = shapeOf(body).join("\n");
  if (document.body && shown === shapeOf(plainBody(document.body)).join("\n")) {
    if (document.body.length > PLAIN_RENDERED_UP_TO) return { found, shownAs: "plain" };
    const rendered = shapeOf(renderBody(document.body)).join("\n");
    return rendered === shown ? { found } : { found, shownAs: "plain" };
  }
  const differs = bodyDifferences(body, renderBody(document.body));
  if (differs.length) found.push(`the text differs from what the author posted: ${differs.join("; ")}`);
  return { found };
}

/**
 * The content check of one post against the chain's ``post``: its file from each source, the copy that hashes to
 * the chain's digest validated and compared with the page. Never throws.
 * @param {HTMLElement} article @param {any} post @returns {Promise<Omit<PostResult, "article" | "postId">>}
 */
async function contentCheck(article, post) {
  const status = article.dataset.contentStatus || "";
  const digest = String(post.digest).toLowerCase();
  const fetched = await Promise.all(sources().map((base) => fileFrom(base, article.dataset.cid || "")));
  const file = fetched.find((one) => one !== null && one.digest === digest);
  const nodeFile = fetched[0];
  const lies = [];
  if (nodeFile && nodeFile.digest !== digest) {
    lies.push("the file this node serves is not what the author posted (its sha256 differs from the chain's)");
  } else if (!nodeFile && status === "pinned") {
    lies.push("this node shows text but does not serve its file");
  }
  if (!file) {
    if (lies.length) return { status: "lie", found: lies };
    return {
      status: "unverified",
      found: [`content unavailable, not verified: nobody asked serves the file with the chain's digest`],
    };
  }
  let document;
  try {
    document = parseDocument(file.bytes, post.parentId !== 0n);
  } catch (error) {
    if (!(error instanceof InvalidDocument)) throw error;
    if (status === "pinned") lies.push(`this node shows a post whose file is not a valid document (${error.message})`);
    return lies.length ? { status: "lie", found: lies } : { status: "checked", found: [] };
  }
  if (status !== "pinned") {
    lies.push(`this node hides a valid post: it says ${status === "invalid" ? "invalid" : "missing"}, but its file (from ${file.source}) is valid`);
    return { status: "lie", found: lies, hidden: document };
  }
  const { found, shownAs } = contentDifferences(article, document);
  lies.push(...found);
  return lies.length ? { status: "lie", found: lies } : { status: "checked", found: [], shownAs };
}

/**
 * What differs between what the page shows of ``article`` and the chain's ``post``, and its content's check.
 * @param {HTMLElement} article @param {any} post @returns {Promise<Omit<PostResult, "article" | "postId">>}
 */
async function postCheck(article, post) {
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
    return { status: "lie", found };
  }
  const content = await contentCheck(article, post);
  if (!found.length) return content;
  return { ...content, status: "lie", found: [...found, ...(content.status === "lie" ? content.found : [])] };
}

/**
 * @typedef {{block: number, contract: string, chainId: string, source: string, problem?: string,
 *   warnings: string[], results: PostResult[], rpcMs?: number,
 *   proven?: any}} PageCheck
 */

/**
 * Check ``articles`` against the chain: one result per post, nothing on the page changed. ``problem`` says why
 * nothing could be checked (no RPC, no answer, another chain, not the pinned Board).
 * @param {HTMLElement} section the page's #chain-check @param {HTMLElement[]} articles
 * @returns {Promise<PageCheck>}
 */
export async function checkPosts(section, articles) {
  const block = Number(section.dataset.indexBlock);
  const contract = section.dataset.contract || "";
  const chainId = section.dataset.chainId || "";
  const wallet = walletProvider();
  const url = rpcUrl(section);
  const source = wallet ? "your wallet" : url ? new URL(url).host : "";
  /** @type {PageCheck} */
  const check = { block, contract, chainId, source, warnings: [], results: [] };
  const pinned = pinnedBoard();
  if (pinned && (pinned.address.toLowerCase() !== contract.toLowerCase() || pinned.chainId !== chainId)) {
    check.problem =
      `this page is from Board ${contract} on chain ${chainId}, not the Board you pinned ` +
      `(${pinned.address} on chain ${pinned.chainId})`;
    return check;
  }
  if (!wallet && !url) {
    check.problem = "this node announces no public RPC; set your own in Settings";
    return check;
  }
  const calls = [
    BOARD.encodeFunctionData("postCount"),
    ...articles.map((a) => BOARD.encodeFunctionData("getPost", [a.dataset.postId])),
  ];
  const asked = requests(contract, block, calls);
  const started = performance.now();
  // while the chain is asked, the files are fetched and hashed
  for (const article of articles) for (const base of sources()) fileFrom(base, article.dataset.cid || "");
  // the facts are proven first (proof.js: header from every source the reader named, proofs from the first); the
  // proofs carry all the calls would, so the calls go out only when nothing could be proven or a source lied
  const postIds = articles.map((a) => a.dataset.postId || "");
  const facts = { block, chainId: chainId || "0", address: contract, postIds };
  const proven = await provePage({ sources: pageSources(url, wallet), ...facts });
  check.proven = proven;
  const answering = (
    provenAnswers(proven, facts) ?? (wallet ? providerCalls(wallet, asked) : rpcSource(url).send(asked))
  ).finally(() => {
    check.rpcMs = Math.round(performance.now() - started);
  });
  let answers;
  try {
    answers = await answering;
  } catch (error) {
    check.problem = `${source} did not answer (${error.message})`;
    return check;
  }
  const served = answers.shift()?.result;
  if (served && chainId && BigInt(served) !== BigInt(chainId)) {
    check.problem = `${source} serves chain ${BigInt(served)}; this Board is on chain ${chainId}`;
    return check;
  }
  const called = answers[0].result ? BOARD.decodeFunctionResult("postCount", answers[0].result)[0] : null;
  const count = proven.count ?? called;
  const shown = BigInt(section.dataset.postCount || "0");
  if (count !== null && count !== shown) check.warnings.push(`this node shows ${shown} of ${count} posts`);
  check.results = await Promise.all(
    articles.map(async (article, i) => {
      const answer = answers[i + 1];
      const postId = article.dataset.postId || "";
      const post = answer.result ? BOARD.decodeFunctionResult("getPost", answer.result) : null;
      const lies = postLies(proven, postId, /** @type {any} */ (post));
      const onChain = provenPost(proven, postId) ?? post;
      if (!onChain) {
        return { article, postId, status: "lie", found: lies.length ? lies : ["the chain has no such post at this block"] };
      }
      const result = await postCheck(article, onChain);
      if (!lies.length) return { article, postId, ...result };
      return { article, postId, ...result, status: "lie", found: [...lies, ...(result.status === "lie" ? result.found : [])] };
    }),
  );
  return check;
}

/** A button that shows a hidden post from its verified file, under the node's note. @param {PostResult} result */
function showHiddenButton(result) {
  const hidden = /** @type {import("./postdoc.js").PostDocument} */ (result.hidden);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button";
  button.dataset.showVerified = "";
  button.textContent = "Show the post from its verified file";
  button.addEventListener("click", () => {
    const copy = document.createElement("div");
    copy.className = "verified-copy";
    copy.dataset.verifiedCopy = "";
    if (hidden.title !== null) {
      const title = document.createElement("p");
      title.className = "verified-title";
      const strong = document.createElement("strong");
      strong.textContent = hidden.title;
      title.append(strong);
      copy.append(title);
    }
    const body = document.createElement("div");
    body.className = "post-body";
    body.append(renderBody(hidden.body));
    copy.append(body);
    button.replaceWith(copy);
  });
  return button;
}

/** Mark one post: checked (``checked`` says how far: proven, or checked by one RPC), not verified, or a plain
 * warning naming what differs. @param {PostResult} result @param {string} checked */
export function markPost(result, checked) {
  const note = own(result.article, "[data-chain-mark]");
  if (!note) return;
  note.hidden = false;
  note.dataset.check = result.status;
  note.classList.toggle("chain-warning", result.status === "lie");
  note.classList.toggle("chain-checked", result.status === "checked");
  note.classList.toggle("chain-unverified", result.status === "unverified");
  note.setAttribute("role", result.status === "lie" ? "alert" : "note");
  if (result.status === "checked") {
    const how = result.shownAs === "plain" ? " (shown as its source text)" : "";
    note.textContent = `${checked}${how}`;
  } else if (result.status === "unverified") note.textContent = `${result.found.join("; ")}.`;
  else note.textContent = `Warning: ${result.found.join("; ")}.`;
  if (result.hidden) note.after(showHiddenButton(result));
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

/** The page's summary line for ``check``, naming the Board and chain checked against. @param {PageCheck} check */
export function summaryOf(check) {
  const against = `Board ${check.contract} on chain ${check.chainId}`;
  if (check.problem) return { warning: true, text: `Not checked against ${against}: ${check.problem}.` };
  const warnings = [...check.warnings];
  const lies = check.results.filter((r) => r.status === "lie").length;
  const unverified = check.results.filter((r) => r.status === "unverified").length;
  const total = check.results.length;
  const lied = check.proven?.status === "lie"; // a source lied about the block or the proofs: nothing is proven
  if (lies && !lied) warnings.push(`${lies} of ${total} posts shown differ from the chain`);
  if (unverified) warnings.push(`${unverified} of ${total} posts shown could not be verified (content unavailable)`);
  const where = `at block ${check.block} through ${check.source}; ${against}`;
  const text = warnings.length
    ? `Warning: ${warnings.join("; ")} (checked ${where}).`
    : `All ${total} posts shown checked against chain ${where}.`;
  if (lied) {
    const also = warnings.length ? ` Also: ${warnings.join("; ")}.` : "";
    return { warning: true, text: `Warning: ${proofSummary(check.proven)}${also} (${where}).` };
  }
  return { warning: warnings.length > 0, text: check.proven ? `${text} ${proofSummary(check.proven)}` : text };
}

/** Check every post on the page against the chain; resolves when every mark is set. */
export async function verifyPage() {
  const settingsPlace = document.getElementById("rpc-settings"); // the RPC is a setting, on the Settings page
  if (settingsPlace) rpcForm(settingsPlace);
  const section = document.getElementById("chain-check");
  if (!section) return;
  const summary = /** @type {HTMLElement} */ (section.querySelector("[data-chain-summary]"));
  const started = performance.now();
  section.dataset.checkSource = walletProvider() ? "wallet" : "rpc";
  const articles = /** @type {HTMLElement[]} */ (Array.from(document.querySelectorAll("article[data-post-id]")));
  summary.hidden = false;
  const check = await checkPosts(section, articles);
  const { warning, text } = summaryOf(check);
  summary.classList.toggle("chain-warning", warning);
  summary.textContent = text;
  if (check.problem) {
    if (pinnedBoard() && check.problem.includes("you pinned")) section.dataset.checked = "true";
    return;
  }
  section.dataset.rpcMs = String(check.rpcMs);
  const checked = provenMark(check.proven) ?? `checked against chain at block ${check.block}`;
  for (const result of check.results) markPost(result, checked);
  section.dataset.checkMs = String(Math.round(performance.now() - started));
  section.dataset.checked = "true";
}
