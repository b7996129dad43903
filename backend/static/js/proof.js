// @ts-check
// Proofs of what a page shows, checked in the reader's browser (issue 23). An RPC's eth_call answer is its word;
// a Merkle proof is not: the Board account is proven against a block header's stateRoot, its code against the
// release's Board code, and every storage slot behind a shown post against the account's storageRoot. The header
// is only as good as its sources, so the same block's hash is asked of every source the reader named (RPCs, their
// wallet): "proven" needs two that agree; one alone gives "checked by 1 RPC", never "proven".
//
// The pure functions (slots, decoding, code, header hash, proof checks) need no page; provePage() asks the sources
// and returns what verify.js marks. The one-file reader uses the same exports.

import { AbiCoder, concat, getAddress, getBytes, hexlify, keccak256, toBeHex, toUtf8Bytes, zeroPadValue } from "/static/vendor/ethers.min.js";
import LAYOUT from "../board-layout.json" with { type: "json" };

export { LAYOUT };
/** Where the release's Board runtime code lives (make compile writes it from the compiled artifact). */
export const RELEASE_URL = "/static/vendor/board-release.json";
/** The reader's further RPC URLs (a JSON list in localStorage), asked for the header beside the check's own. */
export const SOURCES_ITEM = "indelible.rpcs";
export const MAX_SOURCES = 4;

// pure: a bundle that uses none of the functions that encode answers (the one-file reader's first module) leaves
// the ABI coder out; the code check (expectedCode) encodes its fixed words itself
const abi = /* @__PURE__ */ AbiCoder.defaultAbiCoder();

/** @type {Promise<typeof import("/static/vendor/ethereumjs.js")> | null} */
let library = null;

/**
 * @ethereumjs's trie and header code (the vendored bundle), loaded on first use: pages that check nothing never
 * fetch it, and a page whose bundle is missing still shows, its proofs "not proven" with the reason.
 */
export function ethereumjs() {
  // a literal, so that the one-file reader's bundler (reader/bundle.mjs) puts the library inside the file
  library ??= import("/static/vendor/ethereumjs.js");
  return library;
}
const TWO_256 = 1n << 256n;
const EIP712_TYPEHASH = keccak256(
  toUtf8Bytes("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
);

/** A proof or header that does not hold; the message names the field and the source. */
export class ProofError extends Error {}

/** @typedef {{slot: number, offset: number, bytes: number}} Field */
/** @typedef {{author: string, parentId: bigint, digest: string, createdAt: bigint, upvotes: bigint, downvotes: bigint}} Post */
/** @typedef {{deployedBytecode: string, immutables: {name: string, start: number, length: number}[], domain: {name: string, version: string}}} Release */

const word = (/** @type {bigint} */ n) => toBeHex(((n % TWO_256) + TWO_256) % TWO_256, 32);

/** The storage key of member ``offset`` of ``mapping(uint256 => T)`` at ``slot``, for ``key``. */
export function mappingSlot(/** @type {bigint | number | string} */ key, /** @type {number} */ slot, offset = 0) {
  const encoded = new Uint8Array(64); // abi.encode(uint256 key, uint256 slot), without the ABI coder's cost
  encoded.set(getBytes(word(BigInt(key))), 0);
  encoded.set(getBytes(word(BigInt(slot))), 32);
  return word(BigInt(keccak256(encoded)) + BigInt(offset));
}

/** The three storage keys behind post ``postId``: the struct's two slots and its tally. */
export function postKeys(/** @type {bigint | number | string} */ postId, layout = LAYOUT) {
  return {
    first: mappingSlot(postId, layout.posts.slot, layout.posts.members.author.slot),
    second: mappingSlot(postId, layout.posts.slot, layout.posts.members.digest.slot),
    tally: mappingSlot(postId, layout.tallies.slot, layout.tallies.members.upvotes.slot),
  };
}

/** Every key a page of ``postIds`` needs, postCount's first: what one eth_getProof asks. */
export function pageKeys(/** @type {(bigint | number | string)[]} */ postIds, layout = LAYOUT) {
  const keys = [word(BigInt(layout.postCount.slot))];
  for (const id of postIds) {
    const { first, second, tally } = postKeys(id, layout);
    keys.push(first, second, tally);
  }
  return keys;
}

/** The packed field ``field`` of a 32-byte storage word (offsets count bytes from the right, as solc packs). */
export function unpack(/** @type {bigint} */ value, /** @type {Field} */ field) {
  return (value >> BigInt(8 * field.offset)) & ((1n << BigInt(8 * field.bytes)) - 1n);
}

/** A post as getPost returns it, from the words of its two struct slots and its tally slot. */
export function decodePost(
  /** @type {{first: bigint, second: bigint, tally: bigint}} */ words,
  layout = LAYOUT,
) {
  const post = layout.posts.members;
  const tally = layout.tallies.members;
  return /** @type {Post} */ ({
    author: getAddress(toBeHex(unpack(words.first, post.author), 20)),
    createdAt: unpack(words.first, post.createdAt),
    parentId: unpack(words.first, post.parentId),
    digest: toBeHex(unpack(words.second, post.digest), 32),
    upvotes: unpack(words.tally, tally.upvotes),
    downvotes: unpack(words.tally, tally.downvotes),
  });
}

/** OpenZeppelin's ShortString: the string's bytes left-aligned, its length in the last byte (at most 31). */
function shortString(/** @type {string} */ text) {
  const bytes = toUtf8Bytes(text);
  if (bytes.length > 31) throw new ProofError(`the EIP-712 ${text} is too long for a ShortString`);
  const out = new Uint8Array(32);
  out.set(bytes);
  out[31] = bytes.length;
  return hexlify(out);
}

/**
 * The runtime code Board's release has at ``address`` on ``chainId``: the compiled code with its immutables
 * (EIP-712's cached chain id, address, hashed name and version, domain separator, name and version) filled as the
 * constructor fills them there. Its keccak256 is the codeHash a proven Board account must have.
 * @param {Release} release @param {bigint | number | string} chainId @param {string} address
 */
export function expectedCode(release, chainId, address) {
  const code = getBytes(release.deployedBytecode);
  const hashedName = keccak256(toUtf8Bytes(release.domain.name));
  const hashedVersion = keccak256(toUtf8Bytes(release.domain.version));
  const at = zeroPadValue(getAddress(address), 32); // abi.encode(address): every field here is one fixed word
  const separator = keccak256(concat([EIP712_TYPEHASH, hashedName, hashedVersion, word(BigInt(chainId)), at]));
  /** @type {Record<string, string>} */
  const values = {
    _cachedDomainSeparator: separator,
    _cachedChainId: word(BigInt(chainId)),
    _cachedThis: at,
    _hashedName: hashedName,
    _hashedVersion: hashedVersion,
    _name: shortString(release.domain.name),
    _version: shortString(release.domain.version),
  };
  for (const { name, start, length } of release.immutables) {
    if (!(name in values) || length !== 32) throw new ProofError(`the release names an unknown immutable ${name}`);
    code.set(getBytes(values[name]), start);
  }
  return hexlify(code);
}

/** The hardfork whose header fields ``block`` has (the hash covers exactly those fields). */
function hardforkOf(/** @type {Record<string, any>} */ block, /** @type {any} */ Hardfork) {
  if (block.requestsHash) return Hardfork.Prague;
  if (block.parentBeaconBlockRoot || block.blobGasUsed) return Hardfork.Cancun;
  if (block.withdrawalsRoot) return Hardfork.Shanghai;
  if (block.baseFeePerGas) return Hardfork.London;
  return Hardfork.Chainstart;
}

/** The hash of a header recomputed from its fields (an RPC's eth_getBlockByNumber answer), as 0x-hex. */
export async function headerHash(/** @type {Record<string, any>} */ block, /** @type {bigint | number | string} */ chainId) {
  const { Hardfork, Mainnet, createBlockHeaderFromRPC, createCustomCommon } = await ethereumjs();
  const common = createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork: hardforkOf(block, Hardfork) });
  const header = createBlockHeaderFromRPC(/** @type {any} */ (block), { common, skipConsensusFormatValidation: true });
  return hexlify(header.hash());
}

/** Header fields compared when two sources' hashes differ, to name the field. */
export const HEADER_FIELDS = [
  "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom", "difficulty",
  "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce", "baseFeePerGas", "withdrawalsRoot",
  "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
]; // prettier-ignore

/** The fields in which two headers differ. */
export function headerDifferences(/** @type {Record<string, any>} */ a, /** @type {Record<string, any>} */ b) {
  const norm = (/** @type {any} */ v) => (typeof v === "string" ? v.toLowerCase() : v);
  return HEADER_FIELDS.filter((name) => norm(a[name]) !== norm(b[name]));
}

/**
 * The values proofs prove for ``keys`` under ``root`` (hashed keys, as eth_getProof's): each a Uint8Array, null for
 * no entry, or a ProofError. All nodes go into one partial trie, each stored under its own keccak256, and each
 * key is looked up from ``root``: a node that does not hash to the reference its parent holds is never reached,
 * so sharing nodes between proofs proves nothing false, and the shared upper nodes are hashed once.
 * @param {string} root @param {string[]} keys @param {unknown[]} proofs one proof (list of 0x-hex nodes) per key
 * @returns {Promise<(Uint8Array | null | ProofError)[]>}
 */
async function provenEntries(root, keys, proofs) {
  const { createMPTFromProof } = await ethereumjs();
  const nodes = new Map();
  const ok = proofs.map((proof) => Array.isArray(proof) && proof.length > 0 && proof.every((n) => typeof n === "string"));
  proofs.forEach((proof, i) => {
    if (ok[i]) for (const node of /** @type {string[]} */ (proof)) nodes.set(node.toLowerCase(), node);
  });
  let trie = null;
  try {
    const rootNode = [...nodes.keys()].find((node) => keccak256(node) === root.toLowerCase());
    if (rootNode) {
      const ordered = [rootNode, ...[...nodes.keys()].filter((node) => node !== rootNode)];
      trie = await createMPTFromProof(ordered.map((node) => getBytes(node)), { useKeyHashing: true, root: getBytes(root) });
    }
  } catch {
    trie = null;
  }
  return Promise.all(
    keys.map(async (key, i) => {
      if (!ok[i]) return new ProofError("no proof");
      if (trie === null) return new ProofError("its proof does not lead to the root");
      try {
        return await trie.get(getBytes(key), true);
      } catch {
        return new ProofError("its proof does not lead to the root");
      }
    }),
  );
}

/** The value a proof proves for ``key`` under ``root``, null for no entry; throws a ProofError otherwise. */
async function provenEntry(/** @type {string} */ root, /** @type {string} */ key, /** @type {unknown} */ proof) {
  const [entry] = await provenEntries(root, [key], [proof]);
  if (entry instanceof ProofError) throw entry;
  return entry;
}

/**
 * The Board account as proven under ``stateRoot``: nonce, balance, storageRoot, codeHash.
 * @param {string} stateRoot @param {string} address @param {string[]} accountProof
 */
export async function provenAccount(stateRoot, address, accountProof) {
  const entry = await provenEntry(stateRoot, address, accountProof);
  if (entry === null) throw new ProofError(`no account at ${address}`);
  const { RLP } = await ethereumjs();
  const fields = /** @type {Uint8Array[]} */ (/** @type {unknown} */ (RLP.decode(entry)));
  if (!Array.isArray(fields) || fields.length !== 4) throw new ProofError("its account entry is not an account");
  const big = (/** @type {Uint8Array} */ b) => (b.length ? BigInt(hexlify(b)) : 0n);
  return { nonce: big(fields[0]), balance: big(fields[1]), storageRoot: hexlify(fields[2]), codeHash: hexlify(fields[3]) };
}

/** A storage slot's value as proven under ``storageRoot`` (0 when the proof shows no entry). */
export async function provenSlot(/** @type {string} */ storageRoot, /** @type {string} */ key, /** @type {string[]} */ proof) {
  return slotValue(await provenEntry(storageRoot, key, proof));
}

/** A storage trie entry (RLP of the word without leading zeros; null: none) as a number. */
async function slotValue(/** @type {Uint8Array | null} */ entry) {
  if (entry === null) return 0n;
  const { RLP } = await ethereumjs();
  const value = RLP.decode(entry);
  if (!(value instanceof Uint8Array) || value.length > 32) throw new ProofError("its slot entry is not a word");
  return value.length ? BigInt(hexlify(value)) : 0n;
}

/**
 * Check one eth_getProof answer of ``address`` and ``keys`` under a header's ``stateRoot``: the account, its code
 * against ``codeHash``, every slot. Returns the proven value of each key and what the answer stated otherwise
 * (an answer's own value or root that its proof contradicts is a lie, named).
 * @param {any} answer @param {{stateRoot: string, address: string, keys: string[], codeHash: string}} expected
 */
export async function checkProof(answer, expected) {
  if (!answer || typeof answer !== "object") throw new ProofError("no eth_getProof answer");
  const lies = [];
  let account;
  try {
    account = await provenAccount(expected.stateRoot, expected.address, answer.accountProof);
  } catch (error) {
    throw new ProofError(`the Board account: ${error.message}`);
  }
  if (account.codeHash !== expected.codeHash.toLowerCase()) {
    throw new ProofError(`the Board account's code is not the release's Board (codeHash ${account.codeHash})`);
  }
  if (String(answer.storageHash).toLowerCase() !== account.storageRoot) {
    lies.push(`it states storageHash ${answer.storageHash}; its proof says ${account.storageRoot}`);
  }
  /** @type {Map<string, any>} */
  const stated = new Map();
  for (const item of Array.isArray(answer.storageProof) ? answer.storageProof : []) {
    try {
      stated.set(word(BigInt(item.key)), item);
    } catch {
      // a key that is no number proves nothing: the key it was meant for has no proof
    }
  }
  const items = expected.keys.map((key) => stated.get(key));
  const entries = await provenEntries(account.storageRoot, expected.keys, items.map((item) => item?.proof));
  /** @type {Map<string, bigint | ProofError>} */
  const values = new Map();
  for (const [i, key] of expected.keys.entries()) {
    let value;
    try {
      const entry = entries[i];
      if (entry instanceof ProofError) throw entry;
      value = await slotValue(entry);
    } catch (error) {
      values.set(key, new ProofError(error.message));
      continue;
    }
    values.set(key, value);
    let claimed;
    try {
      claimed = BigInt(items[i].value);
    } catch {
      claimed = null;
    }
    if (claimed !== value) lies.push(`it states ${String(items[i].value)} for slot ${key}; its proof says ${toBeHex(value)}`);
  }
  return { account, values, lies };
}

/** @typedef {{result?: any, error?: {message: string}}} Answer */
/** @typedef {{method: string, params: any[]}} Request */
/** @typedef {{name: string, send: (asked: Request[]) => Promise<Answer[]>}} Source */

/** @type {Map<string, Source>} */
const rpcSources = new Map();

/**
 * A source asked by batched JSON-RPC POSTs to ``url``. Requests sent in the same turn of the event loop (the
 * page's calls in verify.js and the header and proofs here) leave as one batch: one request, one CORS preflight.
 */
export function rpcSource(/** @type {string} */ url) {
  const known = rpcSources.get(url);
  if (known) return known;
  /** @type {{asked: Request[], resolve: (a: Answer[]) => void, reject: (e: Error) => void}[]} */
  let queue = [];
  const flush = async () => {
    const waiting = queue;
    queue = [];
    const asked = waiting.flatMap((each) => each.asked);
    try {
      const body = asked.map((request, id) => ({ jsonrpc: "2.0", id, ...request }));
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`the RPC answered HTTP ${response.status}`);
      const answers = await response.json();
      if (!Array.isArray(answers)) throw new Error("the RPC does not answer batched requests");
      const byId = new Map(answers.map((answer) => [answer?.id, answer]));
      let next = 0;
      for (const each of waiting) {
        each.resolve(each.asked.map(() => byId.get(next++) || { error: { message: "no answer" } }));
      }
    } catch (error) {
      for (const each of waiting) each.reject(error);
    }
  };
  const source = /** @type {Source} */ ({
    name: new URL(url).host,
    send(asked) {
      return new Promise((resolve, reject) => {
        if (queue.length === 0) setTimeout(flush, 0);
        queue.push({ asked, resolve, reject });
      });
    },
  });
  rpcSources.set(url, source);
  return source;
}

/** A source asked through an EIP-1193 provider (the reader's wallet), all requests at once. */
export function walletSource(/** @type {any} */ provider) {
  return /** @type {Source} */ ({
    name: "your wallet",
    async send(asked) {
      const settled = await Promise.allSettled(asked.map((request) => provider.request(request)));
      return settled.map((answer) =>
        answer.status === "fulfilled" ? { result: answer.value } : { error: { message: String(answer.reason?.message) } },
      );
    },
  });
}

/** The reader's further RPC URLs, as stored (http or https URLs, at most MAX_SOURCES). */
export function storedSources() {
  try {
    const list = JSON.parse(localStorage.getItem(SOURCES_ITEM) || "[]");
    return Array.isArray(list) ? list.filter((url) => typeof url === "string" && isRpcUrl(url)).slice(0, MAX_SOURCES) : [];
  } catch {
    return [];
  }
}

/** Whether ``text`` is an http(s) URL a source can be asked at. */
export function isRpcUrl(/** @type {string} */ text) {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** Keep the reader's further RPC URLs (checked; an empty list removes the setting). */
export function saveSources(/** @type {string[]} */ urls) {
  const kept = [...new Set(urls.map((url) => url.trim()).filter(isRpcUrl))].slice(0, MAX_SOURCES);
  if (kept.length) localStorage.setItem(SOURCES_ITEM, JSON.stringify(kept));
  else localStorage.removeItem(SOURCES_ITEM);
  return kept;
}

/**
 * The sources of a check, the one asked for proofs first: the wallet when the reader checks through it, the
 * check's RPC URL, then the reader's further RPCs; one URL counts once.
 * @param {string} url @param {any} wallet
 */
export function pageSources(url, wallet) {
  /** @type {Source[]} */
  const sources = wallet ? [walletSource(wallet)] : [];
  const seen = new Set();
  for (const each of [url, ...storedSources()]) {
    if (!each || !isRpcUrl(each)) continue;
    const key = new URL(each).href;
    if (seen.has(key)) continue;
    seen.add(key);
    sources.push(rpcSource(each));
  }
  return sources;
}

/** @type {Promise<Release> | null} */
let releaseLoad = null;

/** The release's Board code (fetched once). */
export function loadRelease(url = RELEASE_URL) {
  releaseLoad ??= fetch(url).then((response) => {
    if (!response.ok) throw new Error(`the release's Board code is not served (${url}: HTTP ${response.status})`);
    return response.json();
  });
  return releaseLoad;
}

/**
 * @typedef {object} Proven
 * @property {"proven" | "single" | "lie" | "unproven"} status proven: 2+ sources agree; single: one source;
 *   lie: a source lied about the header or the account (nothing on the page is proven); unproven: no proof could be had
 * @property {number} block
 * @property {string[]} agreeing names of the sources whose header hash equals the proof source's
 * @property {string[]} lies page-level lies, each naming the field and the source
 * @property {string} reason why nothing was proven (status unproven)
 * @property {bigint | null} count postCount as proven
 * @property {Map<string, Post | string>} posts each post as proven, or why its proof failed
 * @property {string} source the name of the source that gave the proofs
 * @property {string[]} silent sources that gave no header (unreachable, or no such block)
 */

/**
 * Ask ``source`` for ``asked``, never throwing: an error becomes every answer's error.
 * @returns {Promise<Answer[]>}
 */
async function ask(/** @type {Source} */ source, /** @type {Request[]} */ asked) {
  try {
    return await source.send(asked);
  } catch (error) {
    return asked.map(() => ({ error: { message: `${source.name} did not answer (${error.message})` } }));
  }
}

/**
 * Prove the facts of ``postIds`` at ``block``: the header from every source, the proofs from the first.
 * Never throws: what could not be proven is said in the result.
 * @param {{sources: Source[], block: number, chainId: string | number | bigint, address: string,
 *   postIds: string[], release?: Promise<Release> | Release, layout?: typeof LAYOUT}} page
 * @returns {Promise<Proven>}
 */
export async function provePage({ sources, block, chainId, address, postIds, release, layout = LAYOUT }) {
  /** @type {Proven} */
  const result = {
    status: "unproven",
    block,
    agreeing: [],
    lies: [],
    reason: "",
    count: null,
    posts: new Map(),
    source: sources[0]?.name || "",
    silent: [],
  };
  if (!sources.length) {
    result.reason = "no source to ask";
    return result;
  }
  const tag = `0x${block.toString(16)}`;
  const keys = pageKeys(postIds, layout);
  const header = [
    { method: "eth_chainId", params: [] },
    { method: "eth_getBlockByNumber", params: [tag, false] },
  ];
  const answering = sources.map((source, i) =>
    ask(source, i === 0 ? [...header, { method: "eth_getProof", params: [address, keys, tag] }] : header),
  );
  let code;
  try {
    await ethereumjs();
    code = keccak256(expectedCode(await (release ?? loadRelease()), chainId, address));
  } catch (error) {
    result.reason = error.message;
    return result;
  }
  const answers = await Promise.all(answering);
  /** @type {{name: string, block: any, hash: string}[]} */
  const headers = [];
  for (const [i, answer] of answers.entries()) {
    const name = sources[i].name;
    if (answer[0].error || answer[1].error || !answer[1].result) {
      result.silent.push(name);
      if (i === 0) result.reason = `${name} gave no header of block ${block}`;
      continue;
    }
    const stated = answer[1].result;
    let hash;
    try {
      if (BigInt(answer[0].result) !== BigInt(chainId)) {
        result.lies.push(`${name} serves chain ${BigInt(answer[0].result)}, not ${chainId}`);
        continue;
      }
      if (BigInt(stated.number) !== BigInt(block)) {
        result.lies.push(`${name} answered block ${BigInt(stated.number)} when asked for block ${block}`);
        continue;
      }
      hash = await headerHash(stated, chainId);
    } catch (error) {
      result.lies.push(`${name}'s header of block ${block} cannot be read (${error.message})`);
      continue;
    }
    if (String(stated.hash).toLowerCase() !== hash) {
      result.lies.push(`${name}'s header of block ${block} does not hash to the hash it states (${stated.hash})`);
    }
    headers.push({ name, block: stated, hash });
  }
  const first = headers.find((h) => h.name === sources[0].name);
  if (!first) {
    if (!result.reason) result.reason = `${sources[0].name}'s header is not usable`;
    result.status = result.lies.length ? "lie" : "unproven";
    return result;
  }
  const honest = (/** @type {{block: any, hash: string}} */ h) => String(h.block.hash).toLowerCase() === h.hash;
  for (const other of headers) {
    if (other === first || other.hash === first.hash || !honest(other) || !honest(first)) continue;
    const fields = headerDifferences(first.block, other.block);
    result.lies.push(
      `${first.name} and ${other.name} disagree on block ${block}` +
        (fields.length ? ` (${fields.join(", ")}: ${fields.map((f) => `${first.block[f]} against ${other.block[f]}`).join("; ")})` : ""),
    );
  }
  result.agreeing = headers.filter((h) => h.hash === first.hash).map((h) => h.name);
  // a header that does not hash to its own hash: name the fields that differ from an honest one
  for (const each of headers) {
    if (honest(each)) continue;
    const other = headers.find((h) => h !== each && honest(h) && h.block.hash === each.block.hash);
    const fields = other ? headerDifferences(each.block, other.block) : [];
    if (fields.length) result.lies.push(`${each.name} altered ${fields.join(", ")} of block ${block}`);
  }
  let proofAnswer = answers[0][2];
  if (proofAnswer.error || !proofAnswer.result) {
    // a source that withholds proofs proves nothing; another that gave the same block may give them
    result.reason = `${sources[0].name} gives no proofs (${proofAnswer.error?.message || "no answer"})`;
    for (const other of sources.slice(1)) {
      if (!result.agreeing.includes(other.name)) continue;
      const [answer] = await ask(other, [{ method: "eth_getProof", params: [address, keys, tag] }]);
      if (answer.error || !answer.result) continue;
      proofAnswer = answer;
      result.source = other.name;
      break;
    }
  }
  if (proofAnswer.error || !proofAnswer.result) {
    result.status = result.lies.length ? "lie" : "unproven";
    return result;
  }
  const prover = result.source;
  let checked;
  try {
    checked = await checkProof(proofAnswer.result, { stateRoot: first.block.stateRoot, address, keys, codeHash: code });
  } catch (error) {
    result.lies.push(`${prover}'s eth_getProof at block ${block}: ${error.message}`);
    result.status = "lie";
    return result;
  }
  result.lies.push(...checked.lies.map((lie) => `${prover}'s eth_getProof: ${lie}`));
  const count = checked.values.get(keys[0]);
  if (count instanceof ProofError) result.lies.push(`${prover}'s proof of postCount: ${count.message}`);
  else result.count = unpack(/** @type {bigint} */ (count), layout.postCount);
  postIds.forEach((id, i) => {
    const [firstWord, second, tally] = keys.slice(1 + 3 * i, 4 + 3 * i).map((key) => checked.values.get(key));
    const failed = [firstWord, second, tally].find((value) => value instanceof ProofError);
    if (failed) {
      result.posts.set(String(id), `${prover}'s proof of this post does not hold at block ${block} (${failed.message})`);
    } else if (firstWord === 0n) {
      result.posts.set(String(id), `no post ${id} in the proven state at block ${block}`);
    } else {
      result.posts.set(
        String(id),
        decodePost({ first: /** @type {bigint} */ (firstWord), second: /** @type {bigint} */ (second), tally: /** @type {bigint} */ (tally) }, layout),
      );
    }
  });
  result.status = result.lies.length ? "lie" : result.agreeing.length >= 2 ? "proven" : "single";
  if (result.status === "lie") result.count = null; // proven only under a header a liar may have made
  return result;
}

/** The mark of a post whose facts all held: how far it is proven (null: not proven, say as before). */
export function provenMark(/** @type {Proven} */ proven) {
  if (proven.status === "proven") return `proven at block ${proven.block} by ${proven.agreeing.length} RPCs`;
  if (proven.status === "single") return `checked by 1 RPC at block ${proven.block}`;
  return null;
}

/**
 * What is wrong with post ``postId`` as far as the proofs tell: its proof failed, or the eth_call answer
 * ``called`` (getPost through the check's RPC) differs from the proven post.
 * @param {Proven} proven @param {string} postId @param {Post | null} called
 */
export function postLies(proven, postId, called) {
  const post = proven.posts.get(postId);
  if (proven.status === "lie") return [`not proven: ${proven.lies[0]}`];
  if (post === undefined) return [];
  if (typeof post === "string") return [post];
  if (called === null) return [];
  const fields = /** @type {(keyof Post)[]} */ (["author", "parentId", "digest", "upvotes", "downvotes", "createdAt"]);
  const differing = fields.filter((name) => String(called[name]).toLowerCase() !== String(post[name]).toLowerCase());
  return differing.map(
    (name) => `${proven.source} answered eth_call with ${name} ${called[name]}; its own proof at block ${proven.block} says ${post[name]}`,
  );
}

const GET_POST_TYPES = ["address", "uint256", "bytes32", "uint64", "uint128", "uint128"];

/**
 * The answers verify.js's calls (eth_chainId, postCount, getPost of each post) would get, made from the proofs
 * when the page is proven or checked by one source: the calls then need not be asked (on Ganache they cost about
 * four times the proofs). Null when the calls must be asked: nothing proven, or a source lied.
 * @param {Proven} proven @param {{chainId: string | number | bigint, postIds: string[]}} page
 * @returns {Promise<Answer[]> | null}
 */
export function provenAnswers(proven, { chainId, postIds }) {
  if (proven.count === null || (proven.status !== "proven" && proven.status !== "single")) return null;
  const answers = [
    { result: toBeHex(BigInt(chainId)) },
    { result: abi.encode(["uint256"], [proven.count]) },
    ...postIds.map((id) => {
      const post = proven.posts.get(String(id));
      if (!post || typeof post === "string") return { error: { message: typeof post === "string" ? post : "no proof" } };
      const values = [post.author, post.parentId, post.digest, post.createdAt, post.upvotes, post.downvotes];
      return { result: abi.encode(GET_POST_TYPES, values) };
    }),
  ];
  return Promise.resolve(answers);
}

/** The proven post, when there is one (what the page is compared with in place of the eth_call answer). */
export function provenPost(/** @type {Proven} */ proven, /** @type {string} */ postId) {
  const post = proven.posts.get(postId);
  return proven.status !== "lie" && post && typeof post !== "string" ? post : null;
}

/** The sentence the page summary ends with: how far the page is proven, and by whom. */
export function proofSummary(/** @type {Proven} */ proven) {
  switch (proven.status) {
    case "proven":
      return `Proven at block ${proven.block} by ${proven.agreeing.length} RPCs that agree on its hash (${proven.agreeing.join(", ")}).`;
    case "single":
      return (
        `Checked against one RPC, not independent (${proven.source})` +
        (proven.silent.length ? `; ${proven.silent.join(", ")} gave no header` : ": name a second RPC in Settings to prove it") +
        "."
      );
    case "lie":
      return `Not proven: ${proven.lies.join("; ")}.`;
    default:
      return `Not proven: ${proven.reason}.`;
  }
}
