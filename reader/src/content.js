// @ts-check
// A post's file by its digest: asked of each gateway in the reader's order as /ipfs/<CIDv1 raw>?format=raw, its
// sha256 compared with the digest on chain before anything is shown. A gateway that serves other bytes is named,
// never believed. The content rule (docs/content.md) is the node's own module, backend/static/js/postdoc.js.

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
export const gatewayBase = (/** @type {string} */ url) => url.trim().replace(/\/+$/, "").replace(/\/ipfs$/, "");

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
