// @ts-check
// Proofs in the node-free reader (issue 23.3): the same static/js/proof.js the node's pages use. What a view shows
// of each post (author, parent, digest, time, tallies) and the post count are proven with eth_getProof against the
// header of the session's block; the header's hash is asked of every RPC the reader named, and "proven" needs two
// that agree. One RPC alone gives "checked by 1 RPC", never "proven"; a lie is named with its source and field.

import { postLies, proofSummary, provePage, provenMark, rpcSource } from "../../backend/static/js/proof.js";

/** @typedef {import("./board.js").Release} Release */
/** @typedef {import("./board.js").Post} Post */
/** @typedef {import("../../backend/static/js/proof.js").Proven} Proven */

/**
 * proof.js's view of the release (the code with each immutable's position): the build embeds the node's own
 * release record (board-release.json's) as it is.
 * @param {Release} facts
 */
export function proofRelease(facts) {
  return facts.board;
}

/**
 * @typedef {object} Proof
 * @property {"proven" | "single" | "lie" | "unproven"} status the view's: "lie" when any post's read differs
 * @property {"proven" | "single" | "lie" | "unproven"} level how far the header and the proofs go (proof.js)
 * @property {string | null} mark what every post whose facts held is marked with (null: not proven)
 * @property {Map<number, string[]>} lies per post, what its proof (or the RPC's answer against it) says is wrong
 * @property {string} summary the sentence for the view: how far it is proven, and by whom
 */

const CHUNK = 100; // posts per eth_getProof (301 storage keys): a thread of 2,000 posts is 20 proofs
const WORST = ["proven", "single", "unproven", "lie"];

/**
 * Prove ``posts`` at the session's ``block``: proofs from the first RPC, the header from every RPC in ``urls``,
 * CHUNK posts per eth_getProof. The posts as the reader read them (storage words through its RPCs) are compared
 * with the proven ones. Never throws.
 * ``count`` is the post count the reader read (which ids New lists): a proven count that differs is a lie too.
 * @param {{urls: string[], block: number, chainId: bigint, address: string, facts: Release, posts: Post[],
 *   count: number}} view
 * @returns {Promise<Proof>}
 */
export async function proveShown({ urls, block, chainId, address, facts, posts, count }) {
  const sources = [...new Set(urls)].map((url) => rpcSource(url));
  const release = proofRelease(facts);
  /** @type {Map<number, string[]>} */
  const lies = new Map();
  /** @type {Proven | null} */
  let worst = null;
  for (let start = 0; start < Math.max(1, posts.length); start += CHUNK) {
    const chunk = posts.slice(start, start + CHUNK);
    const postIds = chunk.map((post) => String(post.id));
    const proven = await provePage({ sources, block, chainId, address, postIds, release });
    if (!worst || WORST.indexOf(proven.status) > WORST.indexOf(worst.status)) worst = proven;
    for (const post of chunk) {
      const shown = {
        author: post.author, parentId: BigInt(post.parentId), digest: post.digest, createdAt: BigInt(post.createdAt),
        upvotes: BigInt(post.upvotes), downvotes: BigInt(post.downvotes),
      }; // prettier-ignore
      const wrong = postLies(proven, String(post.id), shown).map((lie) => lie.replace("answered eth_call with", "was read with"));
      if (wrong.length) lies.set(post.id, wrong);
    }
  }
  const proven = /** @type {Proven} */ (worst);
  /** @type {string[]} */
  const wrong = [];
  if (proven.status !== "lie" && proven.count !== null && proven.count !== BigInt(count)) {
    wrong.push(`the post count was read as ${count}; ${proven.source}'s proof at block ${block} says ${proven.count}`);
  }
  if (proven.status !== "lie" && lies.size) {
    wrong.push(`${lies.size} of ${posts.length} posts differ from their proofs at block ${block} (each is named)`);
  }
  const status = proven.status === "lie" || wrong.length ? "lie" : proven.status;
  const summary = wrong.length
    ? `Not proven: ${wrong.join("; ")}.`
    : proofSummary(proven).replace("name a second RPC in Settings", "name a second RPC in the rpc field");
  return { status, level: proven.status, mark: proven.status === "lie" ? null : provenMark(proven), lies, summary };
}
