// @ts-check
// The Board as the chain has it, read without any indexer: the code check against this release (proof.js's
// expectedCode), postCount, each post's storage slots in batched eth_getStorageAt (the layout the node's proofs
// use, static/js/proof.js), PostCreated logs by parent, author or all of them (threads), voteOf for trusted voters.
// No ABI coder: every call the reader makes takes and returns fixed 32-byte words, and the two events it decodes
// are topics and fixed words (ethers' Interface and AbiCoder, about a fifth of this module, are not in it).

import { getAddress, id as hashOf, keccak256, toBeHex, zeroPadValue } from "/static/vendor/ethers.min.js";
import { LAYOUT, decodePost, expectedCode, postKeys, unpack } from "../../backend/static/js/proof.js";
import { hostOf } from "./rpc.js";
import { closeEnough, codeRequests, countIn, countRequest, headRequests, hex, narrowed, probePoints, spans } from "./plan.js";

/**
 * @typedef {import("../../backend/static/js/proof.js").Release} BoardRelease
 * @typedef {{board: BoardRelease, abi: any[], eip712: {name: string, version: string, types: any}}} Release
 * @typedef {{id: number, author: string, parentId: number, digest: string, createdAt: number,
 *   upvotes: number, downvotes: number}} Post
 * @typedef {{id: number, parentId: number, author: string, digest: string, block: number}} Created
 *   a PostCreated log: what it says of its post, and its block
 * @typedef {{postId: number, voter: string, direction: number, upvotes: number, downvotes: number}} Voted
 *   a VoteCast log: the post, the voter, the vote (+1, -1, 0 for a withdrawal) and the post's tallies after it
 */

/** An ABI word read as the ABI coder reads a ``bits``-bit integer: its low bits, signed in two's complement or not. */
function integer(/** @type {bigint} */ word, /** @type {number} */ bits, signed = false) {
  const value = word & ((1n << BigInt(bits)) - 1n);
  return signed && value >> BigInt(bits - 1) ? value - (1n << BigInt(bits)) : value;
}

/** The release facts the build embedded (reader/build.py): the node's release record, the ABI, EIP-712. */
export function release() {
  const element = document.getElementById("release");
  return /** @type {Release} */ (JSON.parse(element?.textContent || "{}"));
}

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

/**
 * Compare the code at ``address`` with this release's Board: every immutable must hold the value it has in a
 * Board of this release at this address on this chain (EIP-712's cached chain id, address, name, version and
 * domain separator, filled by proof.js's expectedCode as the node's proofs fill them), the rest of the
 * executable code byte for byte; the metadata (source hash) may differ and is reported. Returns {ok, message}.
 * @param {Release} facts @param {string} found @param {bigint} chainId @param {string} address
 */
export function checkCode(facts, found, chainId, address) {
  const code = bytesOf(found);
  const expected = bytesOf(facts.board.deployedBytecode);
  if (!code.length) return { ok: false, message: `no code at ${address} on chain ${chainId}: nothing is deployed there` };
  if (code.length !== expected.length) {
    return { ok: false, message: `the code at ${address} is ${code.length} bytes, this release's Board is ${expected.length}: not this Board` };
  }
  let filled;
  try {
    filled = bytesOf(expectedCode(facts.board, chainId, address));
  } catch (error) {
    return { ok: false, message: error.message };
  }
  for (const { name, start, length } of facts.board.immutables) {
    const there = toHex(code.subarray(start, start + length));
    const value = toHex(filled.subarray(start, start + length));
    if (there !== value) {
      return { ok: false, message: `the immutable ${name} at byte ${start} is ${there}, a Board of this release here would hold ${value}` };
    }
  }
  const a = executable(code);
  const b = executable(filled);
  if (a.code.length !== b.code.length) return { ok: false, message: "the executable code differs in length from this release's Board" };
  for (let i = 0; i < a.code.length; i += 1) {
    if (a.code[i] !== b.code[i]) return { ok: false, message: `the code at ${address} differs from this release's Board from byte ${i}` };
  }
  const sameMetadata = toHex(a.metadata) === toHex(b.metadata);
  const names = new Set(facts.board.immutables.map((item) => item.name)).size;
  return {
    ok: true,
    message: `the code at ${address} is this release's Board (${names} immutables checked${sameMetadata ? "" : "; its metadata differs, its code does not"})`,
  };
}

export class Board {
  /** @param {import("./rpc.js").Rpc} rpc @param {string} address @param {Release} facts */
  constructor(rpc, address, facts) {
    this.rpc = rpc;
    this.address = getAddress(address);
    this.at = this.address.toLowerCase(); // as every request names it (early.js's too: the same bytes)
    this.facts = facts;
    this.postCreated = this.topic("PostCreated");
    this.voteCast = this.topic("VoteCast");
    this.chainId = 0n;
    this.block = 0; // the block every read of this session is made at
    this.blockHash = "";
    this.count = 0; // postCount at ``block``
  }

  /**
   * Chain id and code check at the head; fixes ``block``. Throws with the reason when it is not our Board.
   * ``alongside(block)``: more requests at that block sent with the code (a view's first reads, so that they
   * cost no round of their own); their answers are returned with the message, to be used once the check held.
   * @param {(block: number) => import("./rpc.js").Request[]} [alongside]
   * @returns {Promise<{message: string, answers: any[]}>}
   */
  async check(alongside = () => []) {
    const [chainId, head] = await this.rpc.batch(headRequests());
    performance.mark("reader:head");
    this.chainId = BigInt(chainId);
    this.block = Number(head.number);
    this.blockHash = String(head.hash);
    // the code and the post count (its storage slot) at that block in one more request
    const [code, count, ...answers] = await this.rpc.batch([...codeRequests(this.at, this.block), ...alongside(this.block)]);
    performance.mark("reader:code");
    const result = checkCode(this.facts, code, this.chainId, this.address);
    if (!result.ok) throw new Error(`Not read: ${result.message}.`);
    this.count = this.countOf(count);
    return { message: `Chain ${this.chainId}, block ${this.block}: ${result.message}.`, answers };
  }

  /** postCount's storage slot at block ``at`` (one word where the postCount() eth_call costs a whole call). */
  countRequest(/** @type {number} */ at) {
    return countRequest(this.at, at);
  }

  countOf(/** @type {any} */ answer) {
    return countIn(this.word(answer, "postCount"));
  }

  /** A storage word an RPC answered, its leading zeros dropped or not (Ganache answers a zero word "0x"). */
  word(/** @type {any} */ answer, /** @type {string} */ what) {
    if (typeof answer !== "string" || !/^0x[0-9a-fA-F]{0,64}$/.test(answer)) {
      throw new Error(`${this.rpc.urls.map(hostOf).join(", ")} answered ${what}'s storage with ${JSON.stringify(answer)?.slice(0, 80)}, not a word: not read`);
    }
    return answer === "0x" ? 0n : BigInt(answer);
  }

  /** The signature of the ABI's entry ``name`` (its inputs are elementary types: the Board's are). */
  signature(/** @type {string} */ name) {
    const entry = this.facts.abi.find((item) => item.name === name);
    if (!entry) throw new Error(`this release's ABI has no ${name}`);
    return `${name}(${entry.inputs.map((/** @type {{type: string}} */ input) => input.type).join(",")})`;
  }

  /** An event's topic (keccak256 of its signature). */
  topic(/** @type {string} */ name) {
    return hashOf(this.signature(name));
  }

  /** The eth_call data of function ``name`` with ``args`` (post ids and addresses: one word each). */
  callData(/** @type {string} */ name, /** @type {(number | string)[]} */ args) {
    return hashOf(this.signature(name)).slice(0, 10) + args.map((arg) => topicOf(arg).slice(2)).join("");
  }

  /** The first word of an eth_call's answer, which must hold one (``what`` names the call). */
  result(/** @type {any} */ answer, /** @type {string} */ what) {
    if (typeof answer !== "string" || !/^0x[0-9a-fA-F]{64}/.test(answer)) {
      throw new Error(`${this.rpc.urls.map(hostOf).join(", ")} answered ${what} with ${JSON.stringify(answer)?.slice(0, 80)}, not a word: not read`);
    }
    return BigInt(answer.slice(0, 66));
  }

  /** What a VoteCast log says, or null when it is another event's. @returns {Voted | null} */
  voted(/** @type {any} */ log) {
    if (String(log.topics?.[0]).toLowerCase() !== this.voteCast) return null;
    const data = String(log.data);
    if (!/^0x[0-9a-fA-F]{192}/.test(data)) {
      throw new Error(`${this.rpc.urls.map(hostOf).join(", ")} answered a VoteCast log whose data is not three words: not read`);
    }
    const [direction, upvotes, downvotes] = [0, 1, 2].map((i) => BigInt(`0x${data.slice(2 + 64 * i, 66 + 64 * i)}`));
    return {
      postId: Number(BigInt(log.topics[1])), voter: `0x${String(log.topics[2]).slice(26)}`.toLowerCase(),
      direction: Number(integer(direction, 8, true)), upvotes: Number(integer(upvotes, 128)),
      downvotes: Number(integer(downvotes, 128)),
    }; // prettier-ignore
  }

  /**
   * Every id's post from its storage at the session's block: the struct's two slots and the tally slot
   * (proof.js's keys and decoding, the layout a test pins to solc's), in batched eth_getStorageAt, three words a
   * post where getPost costs a whole eth_call; two for a post whose digest its PostCreated log gave (``known``:
   * the digest slot is not read again, and a voted post's tally must carry that digest's tag). getPost refuses
   * an id the Board does not have; storage answers zeros for it, so an empty post, a parent that is not older,
   * or a tally cached for another digest is refused here, naming the RPC. ``done(n)`` reports progress.
   * @param {number[]} ids @param {(n: number) => void} [done] @param {Map<number, string>} [known]
   * @returns {Promise<Post[]>}
   */
  async posts(ids, done = () => {}, known = new Map()) {
    for (const id of ids) {
      if (!(Number.isSafeInteger(id) && id >= 1 && id <= this.count)) throw new Error(`there is no post ${id} on this Board (it has ${this.count})`);
    }
    const requests = ids.flatMap((id) => this.storageRequests(id, known.has(id), this.block));
    const words = await this.rpc.batch(requests, (n) => done(Math.floor((n * ids.length) / requests.length)));
    let start = 0;
    return ids.map((id) => {
      const digest = known.get(id);
      const answers = digest ? [words[start], digest, words[start + 1]] : words.slice(start, start + 3);
      start += digest ? 2 : 3;
      return this.stored(id, answers);
    });
  }

  /** The eth_getStorageAt requests for post ``id``'s words at block ``at``: three, or two when its digest is known. */
  storageRequests(/** @type {number} */ id, /** @type {boolean} */ digestKnown, /** @type {number} */ at) {
    const { first, second, tally } = postKeys(id);
    const keys = digestKnown ? [first, tally] : [first, second, tally];
    return keys.map((key) => ({ method: "eth_getStorageAt", params: [this.at, key, hex(at)] }));
  }

  /** A post from the three storage words an RPC answered for it; throws when no Board post can hold them. */
  stored(/** @type {number} */ id, /** @type {any[]} */ answers) {
    const source = this.rpc.urls.map(hostOf).join(", ");
    const refuse = (/** @type {string} */ why) =>
      new Error(`${source} answered storage for post ${id} at block ${this.block} that ${why}: not read`);
    const [first, second, tally] = answers.map((answer) => this.word(answer, `post ${id}`));
    const post = decodePost({ first, second, tally });
    const digest = post.digest.toLowerCase();
    if (!first || !second || post.createdAt === 0n || BigInt(digest) === 0n) {
      throw refuse("is empty, though postCount says the Board has it");
    }
    if (post.parentId >= BigInt(id)) throw refuse(`names a parent (#${post.parentId}) that is not older`);
    // a voted post's tally carries bytes16(keccak256(digest)), Board's _digestTag: a tally moved from another post does not
    const tag = unpack(tally, LAYOUT.tallies.members.digestTag);
    if (tally && tag !== BigInt(keccak256(digest)) >> 128n) throw refuse("holds a tally cached for another digest");
    return {
      id, author: post.author, parentId: Number(post.parentId), digest, createdAt: Number(post.createdAt),
      upvotes: Number(post.upvotes), downvotes: Number(post.downvotes),
    }; // prettier-ignore
  }

  /** Throws, naming the RPC, when a post read from storage is not what its PostCreated log says. */
  agrees(/** @type {Post} */ post, /** @type {Created} */ log) {
    const differs = ["parentId", "author", "digest"].filter(
      (name) => String(/** @type {any} */ (post)[name]).toLowerCase() !== String(/** @type {any} */ (log)[name]).toLowerCase(),
    );
    if (differs.length) {
      const source = this.rpc.urls.map(hostOf).join(", ");
      throw new Error(`${source} contradicts itself on post ${post.id}: its PostCreated log and its storage differ in ${differs.join(", ")}: not read`);
    }
  }

  /** The vote of each (post, voter) pair through voteOf: +1, -1 or 0. */
  async votesOf(/** @type {[number, string][]} */ pairs) {
    const call = (/** @type {[number, string]} */ pair) => ({ to: this.at, data: this.callData("voteOf", pair) });
    const answers = await this.rpc.batch(pairs.map((pair) => ({ method: "eth_call", params: [call(pair), hex(this.block)] })));
    return answers.map((answer, i) => Number(integer(this.result(answer, `voteOf(${pairs[i].join(", ")})`), 8, true)));
  }

  async nonce(/** @type {string} */ address) {
    const answer = await this.rpc.call("eth_call", [{ to: this.address, data: this.callData("nonces", [address]) }, "latest"]);
    return Number(this.result(answer, `nonces(${address})`));
  }

  /**
   * The first block at which ``holds`` the answer to ``probe``(block), given that it holds at the session's
   * block and, once it holds, at every later one: a search that asks PROBES blocks per round in one batch
   * (about 6 rounds for 20 million blocks). ``asked``: the first round's answers, when they were asked already
   * (``probePoints(0, block)``, with the check); ``enough(low, high)``: stop early, returning ``low``, a block at
   * or before the first one.
   * @param {(at: number) => import("./rpc.js").Request} probe @param {(answer: any) => boolean} holds
   * @param {{asked?: any[] | null, enough?: (low: number, high: number) => boolean}} [options]
   */
  async firstBlock(probe, holds, { asked = null, enough = () => false } = {}) {
    let low = 0;
    let high = this.block; // it holds at ``high``, and (if anywhere) not before ``low``
    while (low < high && !enough(low, high)) {
      const points = probePoints(low, high);
      const answers = asked || (await this.rpc.batch(points.map(probe)));
      asked = null;
      ({ low, high } = narrowed(low, high, points, answers.findIndex(holds)));
    }
    return low;
  }

  /** The first block with code at the Board, where its logs start (eth_getCode probes). */
  deploymentBlock() {
    return this.firstBlock(
      (at) => ({ method: "eth_getCode", params: [this.at, hex(at)] }),
      (code) => Boolean(code && code !== "0x"),
    );
  }

  /**
   * A block at or before the one post ``id`` was created in (the first at which postCount's storage reaches
   * it): the search stops once at most an eighth of the blocks from there to the session's block are before
   * the post's (their logs are read with the rest). ``asked``: the first round's answers (``firstProbes``).
   */
  blockOf(/** @type {number} */ id, /** @type {any[] | null} */ asked = null) {
    return this.firstBlock((at) => this.countRequest(at), (answer) => this.countOf(answer) >= id, {
      asked,
      enough: (low, high) => closeEnough(low, high, this.block),
    });
  }

  /** The first round of ``blockOf``'s probes at session block ``block``, to be asked before it runs. */
  firstProbes(/** @type {number} */ block) {
    return probePoints(0, block).map((at) => this.countRequest(at));
  }

  /** What a PostCreated log says. @returns {Created} */
  created(/** @type {any} */ log) {
    return {
      id: Number(BigInt(log.topics[1])), parentId: Number(BigInt(log.topics[2])),
      author: getAddress(`0x${String(log.topics[3]).slice(26)}`), digest: String(log.data).slice(0, 66).toLowerCase(),
      block: Number(log.blockNumber),
    }; // prettier-ignore
  }

  /**
   * Every PostCreated log from block ``from`` to the session's block, as the RPC answered them: the range in
   * ``parts`` spans of as many blocks, two asked at a time (a node that scans its blocks for logs, as Ganache
   * does, reads one span's blocks while it encodes another's answer); ``each(logs)`` is given each span's logs
   * in chain order, as soon as that span and every one before it are in, so that the caller can ask for what
   * they name while the rest is read.
   * @param {number} from @param {number} parts @param {(logs: any[]) => void} each
   */
  async eachCreated(from, parts, each) {
    const filter = this.createdFilter();
    const ranges = spans(from, this.block, parts);
    /** @type {Promise<any[]>[]} */
    const asked = [];
    const ask = (/** @type {number} */ i) => {
      if (i >= ranges.length || asked[i]) return;
      asked[i] = this.rpc.logs(filter, ...ranges[i]);
      asked[i].then(() => ask(i + 2), () => {}); // the next but one as soon as this one is in
    };
    ask(0);
    ask(1);
    for (let i = 0; i < ranges.length; i += 1) each(await asked[i]);
  }

  /** Every PostCreated log of this Board (early.js asks the same filter). */
  createdFilter() {
    return { address: this.at, topics: [this.postCreated] };
  }

  /**
   * The PostCreated logs with one of ``values`` at topic ``position`` (2: parent id, 3: author), from block
   * ``from`` to the session's block, at most 100 values per filter, in chain order.
   * @param {number} position @param {string[]} values @param {number} from @returns {Promise<Created[]>}
   */
  async createdBy(position, values, from) {
    const found = [];
    for (let start = 0; start < values.length; start += 100) {
      /** @type {(string | string[] | null)[]} */
      const topics = [this.postCreated, null, null, null].slice(0, position + 1);
      topics[position] = values.slice(start, start + 100);
      const logs = await this.rpc.logs({ address: this.at, topics }, from, this.block);
      found.push(...logs.map((log) => this.created(log)));
    }
    return found;
  }
}

/** A post id or address as a 32-byte topic. */
export const topicOf = (/** @type {number | string} */ value) =>
  typeof value === "number" ? toBeHex(value, 32) : zeroPadValue(getAddress(value), 32).toLowerCase();
