// @ts-check
// A visit's first reads as plain JSON-RPC requests, built without ethers: the module (board.js, rpc.js) and the small
// script at the top of the page (early.js), which sends the same requests while the module is still being parsed,
// both build them here, so that they are the same bytes. rpc.js takes an early answer only for the very request it
// would send itself, to the same URL, and checks it as any other; anything else it asks again.

import LAYOUT from "../../backend/static/board-layout.json" with { type: "json" };

/** Blocks asked per round of a search for a first block (Board.firstBlock). */
export const PROBES = 15;
/** A thread read whole asks its logs in this many spans, two at a time. */
export const LOG_SPANS = 4;
/** eth_getLogs spans are at most this many blocks until a provider refuses one (rpc.js). */
export const MAX_LOG_SPAN = 1_000_000;
/** A thread whose root has at most this many newer posts (``whole=``) is read from all of their logs. */
export const WHOLE_THREAD = 10_000;
/** Requests per JSON-RPC batch unless ``batch=`` says otherwise. */
export const BATCH = 100;

export const hex = (/** @type {number | bigint} */ n) => `0x${n.toString(16)}`;
const word = (/** @type {number | bigint} */ n) => `0x${n.toString(16).padStart(64, "0")}`;

/** The body of one call, or of a batch, as rpc.js sends it. @param {Request} request */
export const callBody = (request) => ({ jsonrpc: "2.0", id: 1, ...request });
export const batchBody = (/** @type {Request[]} */ requests) => requests.map((request, id) => ({ jsonrpc: "2.0", id, ...request }));

/** @typedef {{method: string, params: any[]}} Request */

/** The chain id and the head: what a visit asks first. @returns {Request[]} */
export const headRequests = () => [
  { method: "eth_chainId", params: [] },
  { method: "eth_getBlockByNumber", params: ["latest", false] },
];

/** postCount's storage slot at block ``at`` of the Board at ``address`` (lower case, as every request names it). */
export const countRequest = (/** @type {string} */ address, /** @type {number} */ at) => ({
  method: "eth_getStorageAt",
  params: [address, word(LAYOUT.postCount.slot), hex(at)],
});

/** The post count in postCount's storage word (already checked to be a word). */
export const countIn = (/** @type {bigint} */ value) =>
  Number((value >> BigInt(8 * LAYOUT.postCount.offset)) & ((1n << BigInt(8 * LAYOUT.postCount.bytes)) - 1n));

/** The code and the post count at ``block``: the check's second request, before anything it may carry alongside. */
export const codeRequests = (/** @type {string} */ address, /** @type {number} */ block) => [
  { method: "eth_getCode", params: [address, hex(block)] },
  countRequest(address, block),
];

/** The blocks one round of a search asks about when the first block is in (``low``, ``high``]. */
export function probePoints(/** @type {number} */ low, /** @type {number} */ high) {
  const step = Math.max(1, Math.ceil((high - low) / (PROBES + 1)));
  const points = [];
  for (let at = low + step - 1; at < high && points.length < PROBES; at += step) points.push(at);
  if (!points.length) points.push(low);
  return points;
}

/**
 * One round of a search: the range left once ``firstWith`` (the index of the first of ``points`` at which it holds,
 * -1 for none) is known.
 */
export function narrowed(/** @type {number} */ low, /** @type {number} */ high, /** @type {number[]} */ points, /** @type {number} */ firstWith) {
  if (firstWith === -1) return { low: points[points.length - 1] + 1, high };
  return { low: firstWith > 0 ? points[firstWith - 1] + 1 : low, high: points[firstWith] };
}

/**
 * A post's block search may stop at (``low``, ``high``] once at most an eighth of the blocks from ``low`` to the
 * session's ``block`` lie before the post's (their logs are read with the rest).
 */
export const closeEnough = (/** @type {number} */ low, /** @type {number} */ high, /** @type {number} */ block) =>
  high - low <= (block - high) / 8;

/**
 * Blocks ``from``..``to`` in ``parts`` spans, each smaller than the one before (4:3:2:1 for four): what is read
 * after the last span is in (its replies' words, their files) is then as little as it can be.
 * @returns {[number, number][]}
 */
export function spans(/** @type {number} */ from, /** @type {number} */ to, /** @type {number} */ parts) {
  const blocks = to - from + 1;
  const total = (parts * (parts + 1)) / 2;
  /** @type {[number, number][]} */
  const out = [];
  let start = from;
  for (let i = 0; i < parts && start <= to; i += 1) {
    const size = Math.max(1, Math.round((blocks * (parts - i)) / total));
    const end = i === parts - 1 ? to : Math.min(to, start + size - 1);
    out.push([start, end]);
    start = end + 1;
  }
  return out;
}

/** eth_getLogs of ``filter`` over one span, as rpc.js asks it. @returns {Request} */
export const logsRequest = (/** @type {{address: string, topics: any[]}} */ filter, /** @type {number} */ start, /** @type {number} */ end) => ({
  method: "eth_getLogs",
  params: [{ ...filter, fromBlock: hex(start), toBlock: hex(end) }],
});
