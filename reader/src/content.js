// @ts-check
// A post's file by its digest: asked of each gateway in the reader's order, its sha256 compared with the digest on
// chain before anything is shown. A gateway that serves other bytes is named, never believed. The files a view
// asks for in one turn go to each gateway together, as one CAR (GET /api/content/car: an Indelible node's); a
// gateway that does not answer that with a CAR (an IPFS gateway) is asked /ipfs/<CIDv1 raw>?format=raw for each
// file, and so is a node for a file its CAR left out. The content rule (docs/content.md) is the node's own module,
// backend/static/js/postdoc.js.

import { MAX_BYTES } from "../../backend/static/js/postdoc.js";
import { hostOf } from "./rpc.js";

const PREFIX = [0x01, 0x55, 0x12, 0x20]; // CIDv1, raw codec, sha2-256, 32 bytes
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** base32 lower case, no padding (RFC 4648), as a CID's multibase 'b'. */
function base32(/** @type {Uint8Array} */ bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export const hexOf = (/** @type {Uint8Array} */ bytes) =>
  `0x${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;

/** The CIDv1 raw of a 0x-hex sha256 digest (backend/content/cid.py's digest_to_cid). */
export function cidOf(/** @type {string} */ digest) {
  const raw = (digest.replace(/^0x/, "").match(/../g) || []).map((pair) => parseInt(pair, 16));
  return `b${base32(Uint8Array.from([...PREFIX, ...raw]))}`;
}

export async function sha256(/** @type {Uint8Array} */ bytes) {
  return hexOf(new Uint8Array(await crypto.subtle.digest("SHA-256", /** @type {BufferSource} */ (bytes))));
}

/** A gateway's base URL: a node or an IPFS path gateway, with or without its /ipfs/ suffix. */
export const gatewayBase = (/** @type {string} */ url) =>
  url
    .trim()
    .replace(/\/+$/, "")
    .replace(/\/ipfs$/, "");

/**
 * @typedef {{ok: true, bytes: Uint8Array, gateway: string} | {ok: false, problems: string[], mismatch: boolean}} Fetched
 * @typedef {{problems: string[], mismatch: boolean, resolve: ((fetched: Fetched) => void)[]}} Wanted
 */

const CAR = "application/vnd.ipld.car";
const CAR_MAX_CIDS = 100; // the node's cap (backend/api/gateway.py)
/** The most bytes a post's file can be (with room for a gateway's trailing newline). */
const maxFile = () => MAX_BYTES + 1024;
/** Gateways that answered /api/content/car with no CAR (IPFS gateways, older nodes): asked a file at a time. */
const noCar = new Set();
/** Files asked for in this turn, by the gateway list they are asked of: sent together once the turn ends. */
let queued = new Map();

/**
 * The verified bytes of ``digest`` from the first gateway that serves them; what each gateway answered otherwise.
 * @param {string} digest @param {string[]} gateways @returns {Promise<Fetched>}
 */
export function fetchVerified(digest, gateways) {
  return new Promise((resolve) => {
    if (!queued.size) setTimeout(flush, 0);
    const key = JSON.stringify(gateways);
    if (!queued.has(key)) queued.set(key, { gateways, wanted: new Map() });
    const { wanted } = queued.get(key);
    const lower = digest.toLowerCase();
    if (!wanted.has(lower)) wanted.set(lower, { problems: [], mismatch: false, resolve: [] });
    wanted.get(lower).resolve.push(resolve);
  });
}

function flush() {
  const groups = queued;
  queued = new Map();
  for (const { gateways, wanted } of groups.values()) {
    const entries = [...wanted.entries()];
    for (let i = 0; i < entries.length; i += CAR_MAX_CIDS)
      fetchMany(new Map(entries.slice(i, i + CAR_MAX_CIDS)), gateways);
  }
}

/** Each wanted file from the gateways in order: together where a gateway answers a CAR, else one by one. */
async function fetchMany(/** @type {Map<string, Wanted>} */ wanted, /** @type {string[]} */ gateways) {
  const settle = (/** @type {string} */ digest, /** @type {Fetched} */ fetched) => {
    for (const resolve of /** @type {Wanted} */ (wanted.get(digest)).resolve) resolve(fetched);
    wanted.delete(digest);
  };
  for (const gateway of gateways) {
    if (!wanted.size) break;
    const base = gatewayBase(gateway);
    /** @type {string[]} */
    let single = [...wanted.keys()];
    if (single.length > 1 && !noCar.has(base)) {
      const answer = await fromCar(base, single, wanted);
      for (const [digest, bytes] of answer.found) settle(digest, { ok: true, bytes, gateway: answer.host });
      single = answer.single;
    }
    await Promise.all(
      single.map(async (digest) => {
        const got = await fetchOne(base, digest, /** @type {Wanted} */ (wanted.get(digest)));
        if (got) settle(digest, { ok: true, bytes: got, gateway: hostOf(base) });
      }),
    );
  }
  for (const [digest, { problems, mismatch }] of [...wanted.entries()]) {
    if (!gateways.length) problems.push("no gateway given");
    settle(digest, { ok: false, problems, mismatch });
  }
}

/**
 * Ask ``base`` for every digest in one CAR. Returns the files whose bytes hash to a digest asked (whatever CID
 * the gateway labelled them with), and the digests still to ask of this gateway one by one: all of them when it
 * answers no CAR, those its CAR left out otherwise. A block whose CID names a digest asked but whose bytes hash
 * to something else is that gateway's lie, named; so is a CAR that cannot be read: neither is asked again there.
 * @param {string} base @param {string[]} digests @param {Map<string, Wanted>} wanted
 */
async function fromCar(base, digests, wanted) {
  const url = `${base}/api/content/car?${digests.map((d) => `cid=${cidOf(d)}`).join("&")}`;
  const host = hostOf(url);
  /** @type {Map<string, Uint8Array>} */
  const found = new Map();
  let bytes;
  try {
    const response = await fetch(url, { headers: { Accept: CAR } });
    if (!response.ok || !(response.headers.get("content-type") || "").startsWith(CAR)) {
      // an IPFS gateway (no such route), or a node busy or refusing: a file at a time, and for good unless busy
      if (response.status !== 429 && response.status < 500) noCar.add(base);
      return { host, found, single: digests };
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    for (const digest of digests)
      /** @type {Wanted} */ (wanted.get(digest)).problems.push(`${host} could not be reached (${error.message})`);
    return { host, found, single: [] };
  }
  const asked = new Set(digests);
  let broken = null;
  if (bytes.length > digests.length * (maxFile() + 64) + 64 * 1024)
    broken = `it is ${bytes.length} bytes, more than ${digests.length} posts' files`;
  else {
    try {
      for (const [label, data] of carBlocks(bytes)) {
        const hash = data.length <= maxFile() ? await sha256(data) : null;
        if (hash && asked.has(hash)) found.set(hash, data);
        else if (asked.has(label) && !found.has(label)) {
          const entry = /** @type {Wanted} */ (wanted.get(label));
          entry.mismatch = true;
          entry.problems.push(
            hash
              ? `${host} served a file that does not match its digest (its sha256 is ${hash})`
              : `${host} served ${data.length} bytes, more than any post`,
          );
        }
      }
    } catch (error) {
      broken = error.message;
    }
  }
  const single = [];
  for (const digest of digests) {
    if (found.has(digest)) continue;
    const entry = /** @type {Wanted} */ (wanted.get(digest));
    if (broken !== null) entry.problems.push(`${host} sent a CAR that could not be read (${broken})`);
    else if (!entry.mismatch) single.push(digest); // left out of the CAR: this gateway may still find it
  }
  return { host, found, single };
}

/**
 * The (CID digest, bytes) of each block of a CARv1 whose CID is a raw sha2-256 CIDv1, the others skipped. The
 * header is skipped unread: its roots say only what was asked; each block is believed for its bytes' hash alone.
 * @param {Uint8Array} bytes @returns {Generator<[string, Uint8Array]>}
 */
export function* carBlocks(bytes) {
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (at >= bytes.length) throw new Error("it ends inside a length");
      if (shift > 49) throw new Error("a length of more than 7 bytes");
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return value;
    }
  };
  const header = varint();
  if (header > bytes.length - at) throw new Error("its header runs past its end");
  at += header;
  while (at < bytes.length) {
    const length = varint();
    if (length > bytes.length - at) throw new Error("a block runs past its end");
    const section = bytes.subarray(at, at + length);
    at += length;
    if (length >= 36 && PREFIX.every((byte, i) => section[i] === byte))
      yield [hexOf(section.subarray(4, 36)), section.subarray(36)];
  }
}

/** The verified bytes of ``digest`` from one gateway's /ipfs/, or null with the problem noted in ``entry``. */
async function fetchOne(/** @type {string} */ base, /** @type {string} */ digest, /** @type {Wanted} */ entry) {
  const url = `${base}/ipfs/${cidOf(digest)}?format=raw`;
  let bytes;
  try {
    const response = await fetch(url, {
      headers: { Accept: "application/vnd.ipld.raw" },
    });
    if (!response.ok) {
      entry.problems.push(`${hostOf(url)} answered HTTP ${response.status}`);
      return null;
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    entry.problems.push(`${hostOf(url)} could not be reached (${error.message})`);
    return null;
  }
  if (bytes.length > maxFile()) {
    entry.problems.push(`${hostOf(url)} served ${bytes.length} bytes, more than any post`);
    return null;
  }
  const found = await sha256(bytes);
  if (found !== digest) {
    entry.mismatch = true;
    entry.problems.push(`${hostOf(url)} served a file that does not match its digest (its sha256 is ${found})`);
    return null;
  }
  return bytes;
}
