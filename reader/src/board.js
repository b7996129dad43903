// @ts-check
// The Board as the chain has it, read without any indexer: the code check against this release, postCount and
// getPost in batched eth_calls, PostCreated logs by parent (replies) or author, voteOf for trusted voters.

import { AbiCoder, Interface, getAddress, keccak256, toBeHex, toUtf8Bytes, zeroPadValue } from "/static/vendor/ethers.min.js";

/**
 * @typedef {{name: string, positions: [number, number][]}} Immutable
 * @typedef {{runtime: string, immutables: Immutable[], abi: any[], eip712: {name: string, version: string, types: any}}} Release
 * @typedef {{id: number, author: string, parentId: number, digest: string, createdAt: number,
 *   upvotes: number, downvotes: number}} Post
 */

/** The release facts the build embedded (reader/build.py). */
export function release() {
  const element = document.getElementById("release");
  return /** @type {Release} */ (JSON.parse(element?.textContent || "{}"));
}

const hex = (/** @type {number | bigint} */ n) => `0x${n.toString(16)}`;

/** The executable part of runtime code: solc's CBOR metadata (length in the last 2 bytes) cut off. */
function executable(/** @type {Uint8Array} */ code) {
  if (code.length < 2) return { code, metadata: new Uint8Array() };
  const length = ((code[code.length - 2] << 8) | code[code.length - 1]) + 2;
  if (length > code.length || (code[code.length - length] & 0xe0) !== 0xa0) return { code, metadata: new Uint8Array() };
  return { code: code.subarray(0, code.length - length), metadata: code.subarray(code.length - length) };
}

const bytesOf = (/** @type {string} */ text) =>
  Uint8Array.from((text.replace(/^0x/, "").match(/../g) || []).map((pair) => parseInt(pair, 16)));
const toHex = (/** @type {Uint8Array} */ bytes) => `0x${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;

/** A ShortString immutable (OpenZeppelin): the text left-aligned in 32 bytes, its length in the last byte. */
function shortString(/** @type {string} */ text) {
  const out = new Uint8Array(32);
  const bytes = toUtf8Bytes(text);
  out.set(bytes);
  out[31] = bytes.length;
  return toHex(out);
}

/** Each immutable's value in a Board of this release at ``address`` on ``chainId``. */
export function expectedImmutables(/** @type {Release} */ facts, /** @type {bigint} */ chainId, /** @type {string} */ address) {
  const hashedName = keccak256(toUtf8Bytes(facts.eip712.name));
  const hashedVersion = keccak256(toUtf8Bytes(facts.eip712.version));
  const typeHash = keccak256(
    toUtf8Bytes("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
  );
  const separator = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "bytes32", "bytes32", "uint256", "address"],
      [typeHash, hashedName, hashedVersion, chainId, address],
    ),
  );
  return /** @type {Record<string, string>} */ ({
    _cachedDomainSeparator: separator,
    _cachedChainId: toBeHex(chainId, 32),
    _cachedThis: zeroPadValue(address, 32),
    _hashedName: hashedName,
    _hashedVersion: hashedVersion,
    _name: shortString(facts.eip712.name),
    _version: shortString(facts.eip712.version),
  });
}

/**
 * Compare the code at ``address`` with this release's Board: every immutable must hold the value it has in a
 * Board of this release at this address on this chain (EIP-712's cached chain id, address, name, version and
 * domain separator), the rest of the executable code byte for byte; the metadata (source hash) may differ and is
 * reported. Returns {ok, message}.
 * @param {Release} facts @param {string} found @param {bigint} chainId @param {string} address
 */
export function checkCode(facts, found, chainId, address) {
  const code = bytesOf(found);
  const expected = bytesOf(facts.runtime);
  if (!code.length) return { ok: false, message: `no code at ${address} on chain ${chainId}: nothing is deployed there` };
  if (code.length !== expected.length) {
    return { ok: false, message: `the code at ${address} is ${code.length} bytes, this release's Board is ${expected.length}: not this Board` };
  }
  const values = expectedImmutables(facts, chainId, address);
  const filled = expected.slice();
  for (const { name, positions } of facts.immutables) {
    const value = bytesOf(values[name]);
    for (const [start, length] of positions) {
      if (length !== 32) return { ok: false, message: `immutable ${name} of unexpected length ${length}` };
      const there = code.subarray(start, start + length);
      if (toHex(there) !== toHex(value)) {
        return { ok: false, message: `the immutable ${name} at byte ${start} is ${toHex(there)}, a Board of this release here would hold ${toHex(value)}` };
      }
      filled.set(value, start);
    }
  }
  const a = executable(code);
  const b = executable(filled);
  if (a.code.length !== b.code.length) return { ok: false, message: "the executable code differs in length from this release's Board" };
  for (let i = 0; i < a.code.length; i += 1) {
    if (a.code[i] !== b.code[i]) return { ok: false, message: `the code at ${address} differs from this release's Board from byte ${i}` };
  }
  const sameMetadata = toHex(a.metadata) === toHex(b.metadata);
  return {
    ok: true,
    message: `the code at ${address} is this release's Board (${facts.immutables.length} immutables checked${sameMetadata ? "" : "; its metadata differs, its code does not"})`,
  };
}

export class Board {
  /** @param {import("./rpc.js").Rpc} rpc @param {string} address @param {Release} facts */
  constructor(rpc, address, facts) {
    this.rpc = rpc;
    this.address = getAddress(address);
    this.facts = facts;
    this.abi = new Interface(facts.abi);
    this.postCreated = /** @type {string} */ (this.abi.getEvent("PostCreated")?.topicHash);
    this.voteCast = /** @type {string} */ (this.abi.getEvent("VoteCast")?.topicHash);
    this.chainId = 0n;
    this.block = 0; // the block every read of this session is made at
    this.blockHash = "";
    this.count = 0; // postCount at ``block``
  }

  /** Chain id and code check at the head; fixes ``block``. Throws with the reason when it is not our Board. */
  async check() {
    const [chainId, head] = await this.rpc.batch([
      { method: "eth_chainId", params: [] },
      { method: "eth_getBlockByNumber", params: ["latest", false] },
    ]);
    this.chainId = BigInt(chainId);
    this.block = Number(head.number);
    this.blockHash = String(head.hash);
    // the code and the post count at that block in one more request
    const [code, count] = await this.rpc.batch([
      { method: "eth_getCode", params: [this.address, hex(this.block)] },
      this.request("postCount", []),
    ]);
    const result = checkCode(this.facts, code, this.chainId, this.address);
    if (result.ok) this.count = Number(this.abi.decodeFunctionResult("postCount", count)[0]);
    if (!result.ok) throw new Error(`Not read: ${result.message}.`);
    return `Chain ${this.chainId}, block ${this.block}: ${result.message}.`;
  }

  /** @param {string} name @param {any[]} args */
  request(name, args) {
    return { method: "eth_call", params: [{ to: this.address, data: this.abi.encodeFunctionData(name, args) }, hex(this.block)] };
  }

  /** getPost of every id, batched; ``done(n)`` reports progress. @returns {Promise<Post[]>} */
  async posts(/** @type {number[]} */ ids, done = (/** @type {number} */ _n) => {}) {
    const answers = await this.rpc.batch(ids.map((id) => this.request("getPost", [id])), done);
    return answers.map((answer, i) => {
      const [author, parentId, digest, createdAt, upvotes, downvotes] = this.abi.decodeFunctionResult("getPost", answer);
      return {
        id: ids[i], author: getAddress(author), parentId: Number(parentId), digest: String(digest).toLowerCase(),
        createdAt: Number(createdAt), upvotes: Number(upvotes), downvotes: Number(downvotes),
      }; // prettier-ignore
    });
  }

  /** The vote of each (post, voter) pair through voteOf: +1, -1 or 0. */
  async votesOf(/** @type {[number, string][]} */ pairs) {
    const answers = await this.rpc.batch(pairs.map(([id, voter]) => this.request("voteOf", [id, voter])));
    return answers.map((answer) => Number(this.abi.decodeFunctionResult("voteOf", answer)[0]));
  }

  async nonce(/** @type {string} */ address) {
    const answer = await this.rpc.call("eth_call", [{ to: this.address, data: this.abi.encodeFunctionData("nonces", [address]) }, "latest"]);
    return Number(this.abi.decodeFunctionResult("nonces", answer)[0]);
  }

  /**
   * The first block with code at the Board, where its logs start: a search over eth_getCode that asks PROBES
   * blocks per round in one batch (about 6 rounds for 20 million blocks).
   */
  async deploymentBlock() {
    const PROBES = 15;
    let low = 0;
    let high = this.block; // code is there at ``high``, and (if anywhere) not before ``low``
    while (low < high) {
      const step = Math.max(1, Math.ceil((high - low) / (PROBES + 1)));
      const points = [];
      for (let at = low + step - 1; at < high && points.length < PROBES; at += step) points.push(at);
      if (!points.length) points.push(low);
      const codes = await this.rpc.batch(points.map((at) => ({ method: "eth_getCode", params: [this.address, hex(at)] })));
      const firstWith = codes.findIndex((code) => code && code !== "0x");
      if (firstWith === -1) low = points[points.length - 1] + 1;
      else {
        high = points[firstWith];
        if (firstWith > 0) low = points[firstWith - 1] + 1;
      }
    }
    return low;
  }

  /**
   * Ids of the posts whose PostCreated has one of ``values`` at topic ``position`` (2: parent id, 3: author),
   * from block ``from`` to the session's block, at most 100 values per filter; with the first block they were in
   * (a reply is in its parent's block or a later one, so a thread's next level starts there).
   * @param {number} position @param {string[]} values @param {number} from
   */
  async postIdsBy(position, values, from) {
    const ids = [];
    let first = Infinity;
    for (let start = 0; start < values.length; start += 100) {
      /** @type {(string | string[] | null)[]} */
      const topics = [this.postCreated, null, null, null].slice(0, position + 1);
      topics[position] = values.slice(start, start + 100);
      const logs = await this.rpc.logs({ address: this.address, topics }, from, this.block);
      for (const log of logs) {
        ids.push(Number(BigInt(log.topics[1])));
        first = Math.min(first, Number(log.blockNumber));
      }
    }
    return { ids, first };
  }
}

/** A post id or address as a 32-byte topic. */
export const topicOf = (/** @type {number | string} */ value) =>
  typeof value === "number" ? toBeHex(value, 32) : zeroPadValue(getAddress(value), 32).toLowerCase();
