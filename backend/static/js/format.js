// @ts-check
// How long hex strings (addresses, transaction hashes) are shortened for people, written once.

/** hex cut to its first `head` characters and, when tail > 0, its last `tail`: "0x1234…abcd". */
export function shorten(hex, head, tail = 0) {
  return tail > 0 ? `${hex.slice(0, head)}…${hex.slice(-tail)}` : `${hex.slice(0, head)}…`;
}

/** An address as the header shows it: 0x and four digits, then the last four. */
export const shortAddress = (/** @type {string} */ address) => shorten(address, 6, 4);

/** A transaction hash as status lines show it: 0x and eight digits. */
export const shortHash = (/** @type {string} */ hash) => shorten(hash, 10);
