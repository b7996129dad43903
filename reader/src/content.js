// @ts-check
// A post's file by its digest: asked of each gateway in the reader's order as /ipfs/<CIDv1 raw>?format=raw, its
// sha256 compared with the digest on chain before anything is shown, then checked against the content rule
// (backend/content/document.py, docs/content.md). A gateway that serves other bytes is named, never believed.

import { hostOf } from "./rpc.js";

const PREFIX = [0x01, 0x55, 0x12, 0x20]; // CIDv1, raw codec, sha2-256, 32 bytes
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const MAX_BYTES = 64 * 1024;
const MAX_TITLE_CHARS = 300;
const TOPIC = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
// as backend/content/document.py's _FORBIDDEN and _ASTRAL_NONCHARACTER: controls but tab/LF/CR, DEL and C1,
// lone surrogates, noncharacters
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const ASTRAL_NONCHARACTER = /[\u{1fffe}\u{1ffff}\u{2fffe}\u{2ffff}\u{3fffe}\u{3ffff}\u{4fffe}\u{4ffff}\u{5fffe}\u{5ffff}\u{6fffe}\u{6ffff}\u{7fffe}\u{7ffff}\u{8fffe}\u{8ffff}\u{9fffe}\u{9ffff}\u{afffe}\u{affff}\u{bfffe}\u{bffff}\u{cfffe}\u{cffff}\u{dfffe}\u{dffff}\u{efffe}\u{effff}\u{ffffe}\u{fffff}\u{10fffe}\u{10ffff}]/u;

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
export const gatewayBase = (/** @type {string} */ url) => url.trim().replace(/\/+$/, "").replace(/\/ipfs$/, "");

/**
 * The flat JSON object of a document, refusing what JSON.parse would let through: nesting and duplicate keys.
 * @param {string} text @returns {Record<string, any>}
 */
function flatObject(text) {
  const value = JSON.parse(text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("content must be a JSON object");
  for (const item of Object.values(value)) {
    if (item !== null && typeof item === "object") throw new Error("content must not nest arrays or objects");
  }
  // JSON.parse keeps the last of duplicate keys; count the keys written instead (strings at object level only)
  const keys = [];
  const scan = /"(?:[^"\\]|\\.)*"|[{},:]|[^"{},:]+/g;
  let expectKey = false;
  for (const match of text.matchAll(scan)) {
    const piece = match[0];
    if (piece === "{" || piece === ",") expectKey = true;
    else if (piece.startsWith('"') && expectKey) {
      keys.push(JSON.parse(piece));
      expectKey = false;
    } else if (piece.trim()) expectKey = false;
  }
  if (new Set(keys).size !== keys.length) throw new Error("content has a duplicate key");
  return value;
}

/**
 * Check bytes against the content rule; returns {title, body, topic} or throws with the reason.
 * @param {Uint8Array} bytes @param {boolean} reply
 */
export function parseDocument(bytes, reply) {
  if (bytes.length > MAX_BYTES) throw new Error(`content is ${bytes.length} bytes; the limit is ${MAX_BYTES}`);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw new Error("content starts with a byte order mark");
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Error("content is not valid UTF-8");
  }
  let value;
  try {
    value = flatObject(text);
  } catch (error) {
    throw new Error(error instanceof SyntaxError ? "content is not valid JSON" : error.message, { cause: error });
  }
  const extra = Object.keys(value).filter((key) => !["title", "body", "topic"].includes(key));
  if (extra.length) throw new Error(`unknown key '${extra.sort()[0]}'`);
  if (typeof value.body !== "string") throw new Error("'body' must be a string");
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === "string" && (FORBIDDEN.test(item) || ASTRAL_NONCHARACTER.test(item))) {
      throw new Error(`'${key}' holds a character documents may not hold`);
    }
  }
  if (reply) {
    if ("title" in value) throw new Error("a reply must not have a title");
    if ("topic" in value) throw new Error("a reply must not have a topic");
    if (!value.body.trim()) throw new Error("a reply needs a non-empty body");
    return { title: null, body: value.body, topic: null };
  }
  if (typeof value.title !== "string" || !value.title.trim()) throw new Error("a top-level post needs a non-empty title");
  if ([...value.title].length > MAX_TITLE_CHARS) throw new Error(`'title' is over ${MAX_TITLE_CHARS} characters`);
  if ("topic" in value && (typeof value.topic !== "string" || value.topic.length > 32 || !TOPIC.test(value.topic))) {
    throw new Error("'topic' must be a lowercase slug");
  }
  return { title: value.title, body: value.body, topic: value.topic ?? null };
}

/**
 * @typedef {{ok: true, bytes: Uint8Array, gateway: string} | {ok: false, problems: string[], mismatch: boolean}} Fetched
 */

/**
 * The verified bytes of ``digest`` from the first gateway that serves them; what each gateway answered otherwise.
 * @param {string} digest @param {string[]} gateways @returns {Promise<Fetched>}
 */
export async function fetchVerified(digest, gateways) {
  const cid = cidOf(digest);
  const problems = [];
  let mismatch = false;
  for (const gateway of gateways) {
    const url = `${gatewayBase(gateway)}/ipfs/${cid}?format=raw`;
    let bytes;
    try {
      const response = await fetch(url, { headers: { Accept: "application/vnd.ipld.raw" } });
      if (!response.ok) {
        problems.push(`${hostOf(url)} answered HTTP ${response.status}`);
        continue;
      }
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      problems.push(`${hostOf(url)} could not be reached (${error.message})`);
      continue;
    }
    if (bytes.length > MAX_BYTES + 1024) {
      problems.push(`${hostOf(url)} served ${bytes.length} bytes, more than any post`);
      continue;
    }
    const found = await sha256(bytes);
    if (found !== digest.toLowerCase()) {
      mismatch = true;
      problems.push(`${hostOf(url)} served a file that does not match its digest (its sha256 is ${found})`);
      continue;
    }
    return { ok: true, bytes, gateway: hostOf(url) };
  }
  if (!gateways.length) problems.push("no gateway given");
  return { ok: false, problems, mismatch };
}
