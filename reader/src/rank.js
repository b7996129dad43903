// @ts-check
// The node's ranking (backend/ranking.py, docs/ranking.md), the same numbers from the same tallies: hot,
// controversial, the Wilson lower bound; listings put folded posts (score at or below the fold threshold) after
// the rest, replies go best first.

export const WILSON_Z = 1.281551565545;
export const HOT_DECAY_SECONDS = 45000;

export function hot(/** @type {number} */ up, /** @type {number} */ down, /** @type {number} */ createdAt) {
  const score = up - down;
  return Math.sign(score) * Math.log10(Math.max(Math.abs(score), 1)) + createdAt / HOT_DECAY_SECONDS;
}

export function controversial(/** @type {number} */ up, /** @type {number} */ down) {
  if (up <= 0 || down <= 0) return 0;
  return (up + down) ** (Math.min(up, down) / Math.max(up, down));
}

export function wilson(/** @type {number} */ up, /** @type {number} */ down, z = WILSON_Z) {
  const n = up + down;
  if (n <= 0) return 0;
  const phat = up / n;
  const z2 = z * z;
  const centre = phat + z2 / (2 * n);
  const spread = z * Math.sqrt((phat * (1 - phat) + z2 / (4 * n)) / n);
  return (centre - spread) / (1 + z2 / n);
}

/** @typedef {{id: number, createdAt: number, up: number, down: number, folded: boolean}} Ranked */

/** The sort key of a listing: new, hot, top or controversial. */
export function sortKey(/** @type {string} */ sort, /** @type {Ranked} */ post) {
  if (sort === "hot") return hot(post.up, post.down, post.createdAt);
  if (sort === "top") return post.up - post.down;
  if (sort === "controversial") return controversial(post.up, post.down);
  return post.id;
}

/** A listing in the node's order: folded posts after the others (not in New), key descending, then newer first. */
export function rankListing(/** @type {string} */ sort, /** @type {Ranked[]} */ posts) {
  const keyed = posts.map((post) => ({ post, key: sortKey(sort, post), tier: sort !== "new" && post.folded ? 1 : 0 }));
  keyed.sort((a, b) => a.tier - b.tier || b.key - a.key || b.post.id - a.post.id);
  return keyed.map((item) => item.post);
}

/** A parent's replies best first, as the node: not folded, then the Wilson bound, then the older reply. */
export function rankReplies(/** @type {Ranked[]} */ replies) {
  const keyed = replies.map((post) => ({ post, key: wilson(post.up, post.down), tier: post.folded ? 1 : 0 }));
  keyed.sort((a, b) => a.tier - b.tier || b.key - a.key || a.post.id - b.post.id);
  return keyed.map((item) => item.post);
}
