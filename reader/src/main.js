// @ts-check
// The node-free reader: the Board read from the chain RPC URLs the reader gives, posts' files from the gateways
// the reader gives, each checked by its hash; no node is trusted and none is needed (docs/reader.md).

import { parseDocument } from "../../backend/static/js/postdoc.js";
import { renderPreview } from "../../backend/static/js/preview.js";
import { Rpc, dropEarly, hostOf } from "./rpc.js";
import { Board, release, topicOf } from "./board.js";
import { cidOf, fetchVerified, sha256 } from "./content.js";
import { rankListing, rankReplies } from "./rank.js";
import * as cache from "./cache.js";
import { initWriting, writeControls } from "./write.js";
import { later } from "./loader.js";
import { LOG_SPANS, WHOLE_THREAD } from "./plan.js";

const PAGE = 25;
const WINDOW = 2000; // Hot, Top and Controversial rank the top-level posts among the newest WINDOW posts
const FOLD = -5; // a post whose score (under the lens) is at or below this is folded, as INDELIBLE_COLLAPSE_SCORE
const CONTENT_CONCURRENCY = 8;
const MAX_THREAD = 2000;
// a thread whose root has at most WHOLE_THREAD newer posts (``whole=``) is read from all of them (every PostCreated
// since its block, as many as a provider's usual result cap), a larger one level by level by the parent topic; a
// thread read whole asks its logs in LOG_SPANS spans, two at a time, each span's replies read as it comes (plan.js)

/** @typedef {import("./board.js").Post} Post */
/**
 * @typedef {{ok: true, title: string | null, body: string, gateway: string, rendered?: DocumentFragment}
 *   | {ok: false, reason: string}} Content ``rendered``: the body as preview.js renders it, once per file
 */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const list = (/** @type {string | null} */ text) => (text || "").split(",").map((s) => s.trim()).filter(Boolean);

const query = new URLSearchParams(location.search);
const params = {
  rpc: list(query.getAll("rpc").join(",")),
  board: (query.get("board") || "").trim(),
  gateway: list(query.getAll("gateway").join(",")),
  relay: (query.get("relay") || "").trim(),
  lens: ["all", "never", "trusted", "default"].includes(query.get("lens") || "") ? String(query.get("lens")) : "all",
  trust: list(query.get("trust")),
  fold: Number.isFinite(Number(query.get("fold"))) && query.get("fold") ? Number(query.get("fold")) : FOLD,
  window: Math.max(WINDOW, Number(query.get("window")) || WINDOW),
  batch: Number(query.get("batch")) || 100,
  whole: query.get("whole") && Number(query.get("whole")) >= 0 ? Number(query.get("whole")) : WHOLE_THREAD,
};

/**
 * @typedef {{id: number, probes: any[]}} Early a thread's first reads, asked with the check: the first round of
 *   the probes for its root's block (used once, by the first view)
 * @type {{rpc: Rpc, board: Board, key: string, count: number, deployment: number | null, posts: Map<number, Post>,
 *   early: Early | null}}
 */
const state = /** @type {any} */ ({ posts: new Map(), deployment: null, count: 0, early: null });
/** @type {Map<string, Promise<Content>>} */
const contents = new Map();
let generation = 0; // a newer view stops an older one's rendering

function progress(/** @type {string} */ text) {
  $("progress").textContent = text;
}

function fillForm() {
  /** @type {HTMLInputElement} */ ($("rpc")).value = params.rpc.join(", ");
  /** @type {HTMLInputElement} */ ($("board")).value = params.board;
  /** @type {HTMLInputElement} */ ($("gateway")).value = params.gateway.join(", ");
  /** @type {HTMLInputElement} */ ($("relay")).value = params.relay;
  /** @type {HTMLSelectElement} */ ($("lens")).value = params.lens;
  /** @type {HTMLInputElement} */ ($("trust")).value = params.trust.join(", ");
  $("source").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ ($("source")));
    const next = new URLSearchParams();
    for (const name of ["rpc", "board", "gateway", "relay", "lens", "trust"]) {
      const value = String(form.get(name) || "").trim();
      if (value) next.set(name, value);
    }
    location.search = next.toString();
  });
  $("forget").addEventListener("click", async () => {
    await cache.clearAll();
    progress("Forgot everything this reader had read in this browser.");
  });
}

// --- the chain -------------------------------------------------------------------------------------------

const rowOf = (/** @type {Post} */ p) => [p.id, p.author, p.parentId, p.digest, p.createdAt, p.upvotes, p.downvotes];
const fromRow = (/** @type {any[]} */ r) =>
  /** @type {Post} */ ({ id: r[0], author: r[1], parentId: r[2], digest: r[3], createdAt: r[4], upvotes: r[5], downvotes: r[6] });

let saving = /** @type {ReturnType<typeof setTimeout> | null} */ (null);
function scheduleSave() {
  if (saving) return;
  saving = setTimeout(() => {
    saving = null;
    cache.saveBoard(state.key, {
      block: state.board.block,
      blockHash: state.board.blockHash,
      deployment: state.deployment,
      codeChecked: state.board.facts.board.deployedBytecode.length.toString(),
      posts: [...state.posts.values()].map(rowOf),
    });
  }, 200);
}

/** What this browser read of this Board before, brought up to the current block by its VoteCast logs. */
async function restore() {
  const record = await cache.loadBoard(state.key);
  const board = state.board;
  if (!record || record.block > board.block) return;
  const since = record.block < board.block && record.posts.length;
  const filter = { address: board.address, topics: [board.voteCast] };
  const range = { fromBlock: `0x${(record.block + 1).toString(16)}`, toBlock: `0x${board.block.toString(16)}` };
  // the cached block's hash and the votes since, in one request (the logs again in spans if it refuses them)
  const [block, votes] = await state.rpc.batch([
    { method: "eth_getBlockByNumber", params: [`0x${record.block.toString(16)}`, false] },
    since ? { method: "eth_getLogs", params: [{ ...filter, ...range }] } : { method: "eth_chainId", params: [] },
  ]).catch(async () => [
    await state.rpc.call("eth_getBlockByNumber", [`0x${record.block.toString(16)}`, false]),
    since ? await state.rpc.logs(filter, record.block + 1, board.block) : null,
  ]);
  if (!block || block.hash !== record.blockHash) {
    progress(`The chain changed under block ${record.block} since the last visit (a reorganisation): reading anew.`);
    return;
  }
  for (const row of record.posts) state.posts.set(row[0], fromRow(row));
  state.deployment = record.deployment;
  if (since) {
    const logs = /** @type {any[]} */ (votes);
    for (const log of logs) {
      const voted = board.voted(log);
      const post = voted && state.posts.get(voted.postId);
      if (post && voted) {
        post.upvotes = voted.upvotes;
        post.downvotes = voted.downvotes;
      }
    }
  }
  scheduleSave();
}

/**
 * Every id not read yet, from its storage (Board.posts), with a progress line; ``logs``: the PostCreated logs
 * read for some of them (their digests are not read again).
 * @param {number[]} ids @param {Map<number, {digest: string}>} [logs]
 */
async function ensurePosts(ids, logs = new Map()) {
  const missing = [...new Set(ids)].filter((id) => !state.posts.has(id));
  if (!missing.length) return;
  const total = missing.length;
  const known = new Map(missing.filter((id) => logs.has(id)).map((id) => [id, /** @type {{digest: string}} */ (logs.get(id)).digest]));
  const read = await state.board.posts(missing, (n) => {
    if (total > PAGE * 4) progress(`read ${n.toLocaleString("en")} of ${total.toLocaleString("en")} posts`);
  }, known); // prettier-ignore
  for (const post of read) state.posts.set(post.id, post);
  scheduleSave();
}

async function deployment() {
  if (state.deployment === null) {
    progress("finding the block the Board was deployed in…");
    state.deployment = await state.board.deploymentBlock();
    scheduleSave();
  }
  return state.deployment;
}

/** @type {Promise<Map<number, Map<string, number>>> | null} */
let trustedVotes = null;

/**
 * Each post's tallies under the lens: raw (all, never; default when unavailable), or the trusted voters' current
 * votes through voteOf (their VoteCast logs say which posts to ask about).
 * @param {Post[]} posts @returns {Promise<Map<number, {up: number, down: number}>>}
 */
async function tallies(posts) {
  const out = new Map(posts.map((p) => [p.id, { up: p.upvotes, down: p.downvotes }]));
  if (params.lens === "default" || params.lens === "never") {
    const counted = await readHistory();
    return new Map(posts.map((p) => [p.id, { ...(counted.get(p.id) || { up: 0, down: 0 }) }]));
  }
  if (params.lens !== "trusted") return out;
  const board = state.board;
  if (!trustedVotes) {
    trustedVotes = (async () => {
      const from = await deployment();
      const voters = params.trust.map((a) => topicOf(a));
      const logs = voters.length
        ? await state.rpc.logs({ address: board.address, topics: [board.voteCast, null, voters] }, from, board.block)
        : [];
      /** @type {Map<number, Map<string, number>>} */
      const byPost = new Map();
      for (const log of logs) {
        const id = Number(BigInt(log.topics[1]));
        if (!byPost.has(id)) byPost.set(id, new Map());
        /** @type {Map<string, number>} */ (byPost.get(id)).set(`0x${log.topics[2].slice(26)}`, 0);
      }
      return byPost;
    })();
  }
  const candidates = await trustedVotes;
  /** @type {[number, string][]} */
  const pairs = [];
  for (const post of posts) for (const voter of candidates.get(post.id)?.keys() || []) pairs.push([post.id, voter]);
  const votes = pairs.length ? await board.votesOf(pairs) : [];
  for (const post of posts) out.set(post.id, { up: 0, down: 0 });
  pairs.forEach(([id, _voter], i) => {
    const tally = /** @type {{up: number, down: number}} */ (out.get(id));
    if (votes[i] > 0) tally.up += 1;
    if (votes[i] < 0) tally.down += 1;
  });
  return out;
}

/** @type {Promise<Map<number, {up: number, down: number}>> | null} */
let history = null;

/**
 * The default lens's counted tallies of every post: a vote counts when its voter's first action on the Board
 * (a PostCreated as author or a VoteCast of +1 or -1 as voter) comes before the post's PostCreated in chain order (block,
 * then log index), as the node's indexer counts it (docs/ranking.md). Read from every PostCreated and VoteCast
 * log since the deployment, once per visit.
 */
function readHistory() {
  history ||= (async () => {
    const board = state.board;
    const from = await deployment();
    const logs = await state.rpc.logs(
      { address: board.address, topics: [[board.postCreated, board.voteCast]] }, from, board.block,
      (block) => progress(`reading the Board's history for the default lens: block ${block.toLocaleString("en")} of ${board.block.toLocaleString("en")}`),
    ); // prettier-ignore
    /** @type {Map<string, [number, number]>} */
    const first = new Map();
    /** @type {Map<number, [number, number]>} */
    const postAt = new Map();
    /** @type {Map<string, number>} */
    const current = new Map();
    for (const log of logs) {
      const at = /** @type {[number, number]} */ ([Number(log.blockNumber), Number(log.logIndex)]);
      const id = Number(BigInt(log.topics[1]));
      if (log.topics[0] === board.postCreated) {
        const author = `0x${log.topics[3].slice(26)}`;
        postAt.set(id, at);
        if (!first.has(author)) first.set(author, at);
      } else {
        const voter = `0x${log.topics[2].slice(26)}`;
        const direction = Number(board.voted(log)?.direction);
        if (direction && !first.has(voter)) first.set(voter, at); // a withdrawal (0) is no first action
        current.set(`${id}:${voter}`, direction);
      }
    }
    /** @type {Map<number, {up: number, down: number}>} */
    const counted = new Map();
    for (const [key, direction] of current) {
      if (!direction) continue;
      const [id, voter] = key.split(":");
      const post = postAt.get(Number(id));
      const seen = /** @type {[number, number]} */ (first.get(voter));
      if (!post || !(seen[0] < post[0] || (seen[0] === post[0] && seen[1] < post[1]))) continue;
      const tally = counted.get(Number(id)) || { up: 0, down: 0 };
      if (direction > 0) tally.up += 1;
      else tally.down += 1;
      counted.set(Number(id), tally);
    }
    historyNote = ` Counted from ${logs.length.toLocaleString("en")} PostCreated and VoteCast logs since block ${from}.`;
    return counted;
  })();
  return history;
}
let historyNote = "";

function lensDescription() {
  if (params.lens === "default") return "votes of voters active on the Board before the post (the node's default lens)";
  if (params.lens === "never") return "as the default lens, nothing folded";
  if (params.lens === "trusted") return `only the votes of the ${params.trust.length} voters you trust (read through voteOf)`;
  return "all votes";
}

/** Posts with their lens tallies and fold, for ranking. */
async function ranked(/** @type {Post[]} */ posts) {
  const counted = await tallies(posts);
  return posts.map((post) => {
    const t = /** @type {{up: number, down: number}} */ (counted.get(post.id));
    return { ...post, up: t.up, down: t.down, folded: params.lens !== "never" && t.up - t.down <= params.fold };
  });
}

// --- content ---------------------------------------------------------------------------------------------

/** The post's document, verified by its digest (from the cache, else the gateways in order). */
function contentOf(/** @type {Post} */ post) {
  const key = `${post.digest}:${post.parentId ? "reply" : "post"}`;
  if (!contents.has(key)) {
    contents.set(
      key,
      (async () => {
        let bytes = await cache.loadFile(post.digest);
        let gateway = "this browser's cache";
        if (!bytes || (await sha256(bytes)) !== post.digest) {
          const fetched = await fetchVerified(post.digest, params.gateway);
          if (!fetched.ok) {
            const problems = /** @type {{problems: string[]}} */ (/** @type {unknown} */ (fetched)).problems;
            return { ok: false, reason: `content unavailable: ${problems.join("; ")}` };
          }
          ({ bytes, gateway } = /** @type {{bytes: Uint8Array, gateway: string}} */ (/** @type {unknown} */ (fetched)));
          cache.saveFile(post.digest, bytes);
        }
        try {
          const doc = parseDocument(bytes, post.parentId !== 0);
          return { ok: true, title: doc.title, body: doc.body, gateway };
        } catch (error) {
          return { ok: false, reason: `content invalid (${error.message})` };
        }
      })(),
    );
  }
  return /** @type {Promise<Content>} */ (contents.get(key));
}

/** The verified body rendered (preview.js) once per file, each use given its own copy. */
function bodyOf(/** @type {{body: string, rendered?: DocumentFragment}} */ content) {
  content.rendered ??= renderPreview(content.body);
  return /** @type {DocumentFragment} */ (content.rendered.cloneNode(true));
}

/** Fetch, check and render a thread's post ahead of its view: the view, once read, only places copies. */
function prepare(/** @type {{digest: string, parentId: number}} */ post) {
  contentOf(/** @type {Post} */ (/** @type {unknown} */ (post))).then((content) => {
    if (content.ok) content.rendered ??= renderPreview(content.body);
  });
}

/** Run ``work`` over ``items``, a few at a time. */
async function eachLimited(/** @type {any[]} */ items, /** @type {(item: any) => Promise<void>} */ work) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: CONTENT_CONCURRENCY }, worker));
}

// --- rendering -------------------------------------------------------------------------------------------

const short = (/** @type {string} */ address) => `${address.slice(0, 6)}…${address.slice(-4)}`;

function element(/** @type {string} */ tag, /** @type {Record<string, string>} */ attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/**
 * One post as an <article>, its content filled in when verified. ``full`` shows the body (a thread);
 * ``level`` is its heading level.
 * @param {Post & {up: number, down: number, folded: boolean}} post @param {{full: boolean, level: number}} how
 */
function article(post, how) {
  const node = element("article", {
    "data-post-id": String(post.id), "data-digest": post.digest, "data-author": post.author,
    "data-parent-id": String(post.parentId), "data-upvotes": String(post.upvotes), "data-downvotes": String(post.downvotes),
    "data-content": "pending", id: `post-${post.id}`, "data-counted-up": String(post.up), "data-counted-down": String(post.down),
  }); // prettier-ignore
  const title = element(`h${how.level}`, { class: "post-title" });
  const when = new Date(post.createdAt * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  const tally = element("span", { class: "tally" }, `${post.upvotes} up / ${post.downvotes} down`);
  const meta = element(
    "p", { class: "meta" }, `#${post.id} by `,
    element("a", { href: `#/author/${post.author}`, title: post.author }, short(post.author)),
    ` · ${when} · `, tally,
    params.lens !== "all" ? element("span", { class: "counted" }, ` · ${post.up} up / ${post.down} down counted`) : null,
    post.parentId ? " · in reply to " : null,
    post.parentId ? element("a", { href: `#/post/${post.parentId}` }, `#${post.parentId}`) : null,
  ); // prettier-ignore
  const body = element("div", { class: "post-body" });
  const note = element("p", { class: "content-note" });
  node.append(title, meta);
  if (post.folded) {
    const folded = element("details", {}, element("summary", {}, `folded by votes (your lens: ${params.lens})`), body, note);
    node.append(folded);
  } else node.append(body, note);
  node.append(writeControls(post));
  contentOf(post).then((content) => {
    if (content.ok) {
      node.dataset.content = "ok";
      if (content.title !== null) {
        title.append(element("a", { href: `#/post/${post.id}` }, content.title));
      } else title.remove();
      if (how.full || content.title === null) body.append(bodyOf(content));
    } else {
      node.dataset.content = "unavailable";
      title.append(element("a", { href: `#/post/${post.id}` }, `Post #${post.id}`));
      note.classList.add("unavailable");
      note.append(/** @type {{reason: string}} */ (/** @type {unknown} */ (content)).reason, " · digest ", element("span", { class: "digest" }, post.digest), ` (CID ${cidOf(post.digest)})`);
    }
  });
  return node;
}

/** Wait for every shown post's content (verified or unavailable), then mark the view done. */
async function settle(/** @type {Post[]} */ posts, /** @type {number} */ mine, /** @type {number} */ started) {
  performance.mark("reader:shown");
  $("view").dataset.read = String(Math.round(performance.now())); // the chain's part done, files still coming
  await eachLimited(posts, (post) => contentOf(post).then(() => undefined));
  if (mine !== generation) return;
  const view = $("view");
  view.dataset.ready = "true";
  performance.mark("reader:ready");
  view.dataset.ms = String(Math.round(performance.now() - started)); // since the view was asked for
  view.dataset.at = String(Math.round(performance.now())); // since the page started loading
  // now that the view is shown: the files read for it kept in IndexedDB, and what early.js asked and nobody took dropped
  cache.keepFiles();
  dropEarly();
  await prove(posts, mine);
}

/**
 * After the view is shown: prove every shown post (static/js/proof.js through reader/src/prove.js) against the
 * session block's header as every named RPC states it, and mark each post with how far it is proven, or its lie.
 * @param {Post[]} posts @param {number} mine
 */
async function prove(posts, mine) {
  const started = performance.now();
  const board = state.board;
  /** @type {import("./prove.js").Proof} */
  let proof;
  try {
    const { proveShown } = await later(); // the later module, loaded now that the view is shown
    proof = await proveShown({
      urls: params.rpc, block: board.block, chainId: board.chainId, address: board.address, facts: board.facts, posts,
      count: board.count,
    }); // prettier-ignore
  } catch (error) {
    proof = { status: "unproven", level: "unproven", mark: null, lies: new Map(), summary: `Not proven: ${error.message}.` };
  }
  if (mine !== generation) return;
  const view = $("view");
  for (const post of posts) {
    const meta = view.querySelector(`#post-${post.id} > .meta`);
    if (!meta) continue;
    const lies = proof.lies.get(post.id);
    const status = lies ? "lie" : proof.mark ? proof.level : proof.level === "lie" ? "lie" : "unproven";
    const text = lies ? lies.join("; ") : proof.mark || "not proven";
    meta.append(" · ", element("span", { class: `proof proof-${status}`, "data-proof": status }, text));
  }
  const summary = element("p", { class: "proof-summary", id: "proof-summary", role: "status" }, proof.summary);
  (view.querySelector(":scope > .stated") || view.querySelector("h2"))?.after(summary);
  view.dataset.proof = proof.status;
  view.dataset.proofMs = String(Math.round(performance.now() - started)); // the proofs, after the view was shown
}

function showView(/** @type {string} */ heading, /** @type {(string | Node)[]} */ children) {
  const view = $("view");
  view.dataset.ready = "false";
  view.replaceChildren(element("h2", {}, heading), ...children);
}

async function listingView(/** @type {string} */ sort, /** @type {number} */ mine, /** @type {number} */ started) {
  const count = state.count;
  /** @type {Post[]} */
  let shown;
  let stated;
  if (sort === "new") {
    const top = [];
    for (let id = count; id > 0 && top.length < PAGE; id -= 100) {
      const ids = Array.from({ length: Math.min(100, id) }, (_, i) => id - i);
      await ensurePosts(ids);
      for (const i of ids) if (/** @type {Post} */ (state.posts.get(i)).parentId === 0 && top.length < PAGE) top.push(state.posts.get(i));
    }
    shown = /** @type {Post[]} */ (top);
    stated = `The newest ${shown.length} top-level posts of ${count.toLocaleString("en")} posts on the Board.`;
  } else {
    const low = Math.max(1, count - params.window + 1);
    const ids = Array.from({ length: count - low + 1 }, (_, i) => count - i);
    await ensurePosts(ids);
    const top = ids.map((i) => /** @type {Post} */ (state.posts.get(i))).filter((p) => p.parentId === 0);
    shown = /** @type {any[]} */ (rankListing(sort, await ranked(top))).slice(0, PAGE);
    stated = `Ranked as the node ranks (${sort}) among the ${top.length} top-level posts of the newest ${ids.length} posts (ids ${low}–${count}); votes counted: ${lensDescription()}.${historyNote}`;
  }
  if (mine !== generation) return;
  const rankedShown = sort === "new" ? await ranked(shown) : /** @type {any[]} */ (shown);
  const items = rankedShown.map((post) => element("li", {}, article(post, { full: false, level: 3 })));
  showView(sort[0].toUpperCase() + sort.slice(1), [element("p", { class: "stated" }, stated), element("ol", { class: "posts" }, ...items)]);
  progress(`read ${count.toLocaleString("en")} posts' count at block ${state.board.block}; showing ${items.length}.`);
  await settle(shown, mine, started);
}

async function threadView(/** @type {number} */ id, /** @type {number} */ mine, /** @type {number} */ started) {
  if (!(id >= 1 && id <= state.count)) {
    showView("No such post", [element("p", {}, `The Board has posts 1 to ${state.count}; there is no post ${id}.`)]);
    return;
  }
  const board = state.board;
  // the block the root was created in (every reply is there or later): the first round of probes came with the
  // check when the reader was opened on this thread; the root's words are read with its first replies' (a thread
  // read whole) or now
  const early = state.early?.id === id ? state.early : null;
  state.early = null;
  const whole = state.count - id <= params.whole;
  const rootRead = whole ? null : ensurePosts([id]).then(() => prepare(/** @type {Post} */ (state.posts.get(id))));
  rootRead?.catch(() => {}); // its error is thrown where it is awaited, below
  const from = await board.blockOf(id, early ? early.probes : null);
  /** @type {Map<number, import("./board.js").Created>} */
  const logs = new Map();
  /** @type {number[]} */
  const ids = []; // the replies, level by level
  const reading = [];
  /** @type {Promise<void>[]} */
  const readingAhead = [];
  /** The logs of a level that are replies to follow: newer than their parent (the Board checks it; a log that
   * says otherwise is not followed), among the posts at this block, each once. */
  const take = (/** @type {import("./board.js").Created[]} */ found) => {
    const level = [];
    for (const log of found) {
      if (!(log.id > log.parentId && log.id > id && log.id <= state.count) || logs.has(log.id)) continue;
      logs.set(log.id, log);
      ids.push(log.id);
      level.push(log);
      // its file fetched (by the digest the log names) while the posts are read; shown only once they agree
      prepare(log);
    }
    return level;
  };
  if (whole) {
    // one read of every PostCreated since the root's block, the tree built here: fewer requests than one
    // filtered read per level of the thread (many parent topics are slow to match on some nodes); only the
    // thread's own logs are decoded
    progress(`reading the ${(state.count - id).toLocaleString("en")} posts created since #${id}…`);
    /** @type {Map<string, any[]>} */
    const children = new Map(); // parent topic -> its PostCreated logs
    const rootTopic = topicOf(id);
    // while the later spans are read, the replies found so far (in chain order, a parent before its replies)
    // are read from storage and their files fetched; the tree itself is built below from all the logs
    const found = new Set([rootTopic]);
    /** @type {Map<number, import("./board.js").Created>} */
    const foundLogs = new Map();
    let rootAhead = true;
    performance.mark("reader:logs-asked");
    await board.eachCreated(from, LOG_SPANS, (created) => {
      performance.mark("reader:span");
      /** @type {number[]} */
      const ahead = rootAhead ? [id] : []; // the root's words go with the first span's replies'
      rootAhead = false;
      for (const log of created) {
        const parent = String(log.topics?.[2]).toLowerCase();
        if (!children.has(parent)) children.set(parent, []);
        /** @type {any[]} */ (children.get(parent)).push(log);
        const topic = String(log.topics?.[1]).toLowerCase();
        if (topic === rootTopic) {
          logs.set(id, board.created(log));
          prepare(/** @type {import("./board.js").Created} */ (logs.get(id))); // its file, by the digest its log names
        }
        if (!found.has(parent) || found.has(topic) || foundLogs.size >= MAX_THREAD) continue;
        const reply = board.created(log);
        if (!(reply.id > reply.parentId && reply.id > id && reply.id <= state.count)) continue;
        found.add(topic);
        foundLogs.set(reply.id, reply);
        ahead.push(reply.id);
        prepare(reply);
      }
      if (!ahead.length) return;
      const read = ensurePosts(ahead, foundLogs);
      read.catch(() => {}); // its error is thrown where it is awaited, below
      readingAhead.push(read);
    });
    if (!logs.has(id)) throw new Error(`${params.rpc.map(hostOf).join(", ")} answered no PostCreated for post ${id} from block ${from}, before which postCount had not reached it: not read`);
    let parents = [id];
    while (parents.length && ids.length < MAX_THREAD) {
      const level = take(parents.flatMap((p) => children.get(topicOf(p)) || []).map((log) => board.created(log)));
      parents = level.map((log) => log.id);
    }
  } else {
    let parents = [id];
    let start = from;
    while (parents.length && ids.length < MAX_THREAD) {
      progress(`reading replies: ${ids.length} so far`);
      const level = take(await board.createdBy(2, parents.map((p) => topicOf(p)), start));
      reading.push(ensurePosts(level.map((log) => log.id), logs)); // read while the next level's logs are asked
      parents = level.map((log) => log.id);
      if (level.length) start = Math.min(...level.map((log) => log.block)); // replies to these: there or later
    }
  }
  await Promise.all([rootRead, ...reading, ...readingAhead]);
  await ensurePosts([id, ...ids], logs);
  performance.mark("reader:posts-read");
  const root = /** @type {Post} */ (state.posts.get(id));
  const all = [root, ...ids.map((i) => /** @type {Post} */ (state.posts.get(i)))];
  for (const post of all) {
    const log = logs.get(post.id);
    if (log) board.agrees(post, log);
  }
  if (mine !== generation) return;
  const rankedAll = await ranked(all);
  /** @type {Map<number, any[]>} */
  const children = new Map();
  for (const post of rankedAll.slice(1)) {
    if (!children.has(post.parentId)) children.set(post.parentId, []);
    /** @type {any[]} */ (children.get(post.parentId)).push(post);
  }
  const build = (/** @type {any} */ post, /** @type {number} */ depth) => {
    const node = article(post, { full: true, level: Math.min(6, 2 + Math.min(depth, 1)) });
    const replies = rankReplies(children.get(post.id) || []);
    if (replies.length) node.append(element("ol", { class: "replies" }, ...replies.map((r) => element("li", {}, build(r, depth + 1)))));
    return node;
  };
  showView(`Thread of post #${id}`, [
    element("p", { class: "stated" }, `${all.length - 1} replies, read from ${whole ? `every PostCreated log since block ${from} (at or before the post's)` : "PostCreated logs by parent"}; replies best first; votes counted: ${lensDescription()}.${historyNote}`),
    build(rankedAll[0], 0),
  ]); // prettier-ignore
  progress(`read a thread of ${all.length} posts at block ${state.board.block}.`);
  await settle(all, mine, started);
}

async function authorView(/** @type {string} */ address, /** @type {number} */ mine, /** @type {number} */ started) {
  const from = await deployment();
  const logs = (await state.board.createdBy(3, [topicOf(address)], from)).filter((log) => log.id <= state.count).reverse();
  const ids = [...new Set(logs.map((log) => log.id))];
  await ensurePosts(ids, new Map(logs.map((log) => [log.id, log])));
  for (const log of logs) state.board.agrees(/** @type {Post} */ (state.posts.get(log.id)), log);
  if (mine !== generation) return;
  const posts = await ranked(ids.map((i) => /** @type {Post} */ (state.posts.get(i))));
  showView(`Posts by ${address}`, [
    element("p", { class: "stated" }, `${posts.length} posts, newest first, read from PostCreated logs by author.`),
    element("ol", { class: "posts" }, ...posts.map((p) => element("li", {}, article(p, { full: false, level: 3 })))),
  ]);
  await settle(posts, mine, started);
}

async function route() {
  const mine = ++generation;
  const started = performance.now();
  $("view").dataset.ready = "false";
  const hash = location.hash.replace(/^#\/?/, "") || "new";
  for (const link of document.querySelectorAll("#views a")) {
    if (link.getAttribute("href") === `#/${hash}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    const [what, arg] = hash.split("/");
    if (["new", "hot", "top", "controversial"].includes(what)) await listingView(what, mine, started);
    else if (what === "post") await threadView(Number(arg), mine, started);
    else if (what === "author" && /^0x[0-9a-fA-F]{40}$/.test(arg || "")) await authorView(arg, mine, started);
    else if (what === "compose") showView("Write a post", [writeControls(null)]);
    else showView("Nothing here", [element("p", {}, "Choose New, Hot, Top or Controversial.")]);
  } catch (error) {
    if (mine === generation) failed(error);
  }
}

function failed(/** @type {any} */ error) {
  const view = $("view");
  view.dataset.ready = "error";
  progress("");
  view.replaceChildren(element("p", { class: "warning", role: "alert" }, `Could not read: ${error.message}`));
}

// --- this file's own hash --------------------------------------------------------------------------------

async function selfCheck() {
  const line = $("self-cid");
  if (location.protocol === "http:" || location.protocol === "https:") {
    try {
      const response = await fetch(location.href.split("#")[0], { cache: "force-cache" });
      const digest = await sha256(new Uint8Array(await response.arrayBuffer()));
      line.textContent = `This file's CID (computed here from the bytes it was loaded from): ${cidOf(digest)}.`;
      line.dataset.cid = cidOf(digest);
    } catch (error) {
      line.textContent = `This file's CID could not be computed: ${error.message}.`;
    }
  } else {
    line.textContent =
      "Opened from a file: a page may not read its own file, so its CID is not computed here. Choose the file below, or run sha256sum on it, and compare with the CID its publisher gave.";
  }
  $("self-file").addEventListener("change", async (event) => {
    const file = /** @type {HTMLInputElement} */ (event.target).files?.[0];
    if (!file) return;
    const digest = await sha256(new Uint8Array(await file.arrayBuffer()));
    $("self-file-cid").textContent = `${file.name}: CID ${cidOf(digest)} (sha256 ${digest}).`;
  });
}

// --- start -----------------------------------------------------------------------------------------------

async function start() {
  performance.mark("reader:start");
  fillForm();
  selfCheck();
  if (!params.rpc.length || !params.board) {
    $("check").textContent = "Give one or more chain RPC URLs, the Board's address and your gateways, then Read.";
    return;
  }
  const check = $("check");
  cache.openEarly();
  try {
    state.rpc = new Rpc(params.rpc, { batchSize: params.batch });
    state.rpc.onWait = (text) => progress(text);
    state.board = new Board(state.rpc, params.board, release());
    check.textContent = `Checking chain and code at ${params.board} through ${params.rpc.map(hostOf).join(", ")}…`;
    // opened on a thread: its root's words and the first probes for its block go with the check's second request
    const thread = /^#\/?post\/(\d+)$/.exec(location.hash);
    const rootId = thread ? Number(thread[1]) : 0;
    const board = state.board;
    const alongside = (/** @type {number} */ block) => (Number.isSafeInteger(rootId) && rootId >= 1 ? board.firstProbes(block) : []);
    const { message, answers } = await board.check(alongside);
    check.textContent = message;
    if (answers.length) state.early = { id: rootId, probes: answers };
    check.classList.add("ok");
    state.key = cache.boardKey(state.board.chainId, state.board.address);
    state.count = state.board.count;
    await restore();
  } catch (error) {
    check.classList.add("bad");
    check.setAttribute("role", "alert");
    check.textContent = error.message.startsWith("Not read") ? error.message : `Not read: ${error.message}`;
    $("view").dataset.ready = "error";
    return;
  }
  $("views").hidden = false;
  initWriting({ state, params, refresh: route, progress });
  window.addEventListener("hashchange", route);
  await route();
}

start();
