// @ts-check
// Posting and voting from the reader, the part that sends (the later module, reader/src/later.js: loaded once the
// first view is shown or an action is asked, so that none of it, ethers' signing and wallet code above all, is
// parsed before the view). The file goes to the reader's gateways that take uploads (an Indelible node's POST
// /api/content), and the reader is told which pinned it; the action is sent by the injected wallet (EIP-1193
// eth_sendTransaction, through signer.js's walletSigner) or signed with this browser's key (signer.js) as EIP-712
// and sent through the relay the reader named (an Indelible node's POST /api/relay). A reply or a vote names its
// target by id and the digest read from the chain, so it can only land on the post the reader saw.

import { Contract } from "/static/vendor/ethers.min.js";
import { browserKey, hasInjectedWallet, walletSigner } from "../../backend/static/js/signer.js";
import { gatewayBase, sha256 } from "./content.js";
import { hostOf } from "./rpc.js";

/** @typedef {import("./write.js").Context} Context */

const ZERO_DIGEST = `0x${"00".repeat(32)}`;
const DEADLINE_SECONDS = 3600;

/** @type {Context} */
let context = /** @type {any} */ (null);

/** Who signs: the injected wallet when there is one and the reader did not choose the browser key. */
function mode() {
  const choice = /** @type {HTMLSelectElement | null} */ (document.getElementById("signer"));
  if (choice) return choice.value;
  return hasInjectedWallet() ? "wallet" : "key";
}

/** Upload a document to every gateway that takes uploads; the digest and the hosts that pinned it. */
async function upload(/** @type {object} */ doc, /** @type {boolean} */ reply) {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const digest = await sha256(bytes);
  const pinned = [];
  const refused = [];
  for (const gateway of context.params.gateway) {
    const url = `${gatewayBase(gateway)}/api/content?reply=${reply}`;
    try {
      const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: bytes });
      const answer = await response.json().catch(() => ({}));
      if (response.ok && String(answer.digest).toLowerCase() === digest) pinned.push(hostOf(url));
      else if (response.ok) refused.push(`${hostOf(url)} answered digest ${answer.digest}, not ${digest}`);
      else refused.push(`${hostOf(url)} answered HTTP ${response.status}: ${answer.detail || ""}`);
    } catch (error) {
      refused.push(`${hostOf(url)} takes no uploads from here (${error.message})`);
    }
  }
  if (!pinned.length) throw new Error(`no gateway pinned the text: ${refused.join("; ") || "no gateway given"}`);
  return { digest, pinned, refused };
}

/** Sign with the browser key and send through the reader's relay; the transaction hash. */
async function relay(/** @type {"post" | "vote"} */ kind, /** @type {Record<string, any>} */ fields) {
  const relayUrl = context.params.relay;
  if (!relayUrl) throw new Error("no relay given: name an Indelible node as the relay, or use a wallet");
  const board = context.state.board;
  const key = browserKey();
  const facts = board.facts.eip712;
  const primary = kind === "post" ? "Post" : "Vote";
  const domain = { name: facts.name, version: facts.version, chainId: board.chainId, verifyingContract: board.address };
  const message = {
    [kind === "post" ? "author" : "voter"]: key.address,
    ...fields,
    nonce: await board.nonce(key.address),
    deadline: Math.floor(Date.now() / 1000) + DEADLINE_SECONDS,
  };
  const signature = await key.signTypedData(domain, { [primary]: facts.types[primary] }, message);
  const url = `${gatewayBase(relayUrl)}/api/relay`;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ kind, ...message, signature }),
    });
  } catch (error) {
    throw new Error(`the relay ${hostOf(url)} could not be reached (${error.message})`, { cause: error });
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`the relay ${hostOf(url)} answered HTTP ${response.status}: ${answer.detail || ""}`);
  return String(answer.tx_hash);
}

/** Send through the injected wallet; the transaction hash. */
async function viaWallet(/** @type {string} */ method, /** @type {any[]} */ args) {
  const board = context.state.board;
  const signer = await walletSigner(board.chainId);
  const contract = new Contract(board.address, board.facts.abi, signer);
  const tx = await contract[method](...args);
  return String(tx.hash);
}

/** The receipt of ``hash`` from the reader's RPC (polled), and the post id it created, if any. */
async function mined(/** @type {string} */ hash) {
  const { rpc, board } = context.state;
  for (let i = 0; i < 240; i += 1) {
    const receipt = await rpc.call("eth_getTransactionReceipt", [hash]);
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error(`transaction ${hash} failed on chain`);
      const created = receipt.logs.find((log) => log.topics[0] === board.postCreated);
      return { block: Number(receipt.blockNumber), postId: created ? Number(BigInt(created.topics[1])) : null };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`transaction ${hash} is not in a block after 2 minutes`);
}

/** Read the head again, forget ``stale`` post ids' tallies and show the view anew. */
async function reread(/** @type {number[]} */ stale) {
  const { state } = context;
  await state.board.check();
  state.count = state.board.count;
  for (const id of stale) state.posts.delete(id);
  await context.refresh();
}

/**
 * Run one action, telling the reader each step in ``line``.
 * @param {HTMLElement} line @param {(say: (text: string) => void) => Promise<string>} work
 */
async function act(line, work) {
  const status = /** @type {HTMLElement} */ (document.getElementById("write-status"));
  const say = (/** @type {string} */ text) => {
    line.textContent = text;
    status.textContent = text; // outlives the view, which is read again once the action is on chain
  };
  line.classList.remove("warning");
  status.classList.remove("warning");
  delete line.dataset.done;
  delete status.dataset.done;
  try {
    const hash = await work(say);
    say(`Sent: transaction ${hash}; waiting for a block…`);
    const { block, postId } = await mined(hash);
    say(postId ? `Confirmed: post #${postId} is on chain, in block ${block}.` : `Confirmed in block ${block}.`);
    line.dataset.done = status.dataset.done = postId ? String(postId) : "vote";
    return postId;
  } catch (error) {
    line.classList.add("warning");
    status.classList.add("warning");
    say(`Not sent: ${error.shortMessage || error.message}`);
    return null;
  }
}

/** Post a document (a reply when parent is given), for the reader's ``given`` state (write.js's context). */
export async function submit(/** @type {Context} */ given, /** @type {any} */ parent, /** @type {object} */ doc, /** @type {HTMLElement} */ line) {
  context = given;
  const parentId = parent ? parent.id : 0;
  const parentDigest = parent ? parent.digest : ZERO_DIGEST;
  const postId = await act(line, async (say) => {
    say("Saving your text on your gateways…");
    const { digest, pinned, refused } = await upload(doc, Boolean(parent));
    /** @type {HTMLElement} */ (document.getElementById("write-status")).dataset.pinned = pinned.join(",");
    const where = `pinned by ${pinned.join(", ")}${refused.length ? ` (not by: ${refused.join("; ")})` : ""}`;
    if (mode() === "wallet") {
      say(`Text ${where}. Waiting for your wallet…`);
      return viaWallet("post", [digest, parentId, parentDigest]);
    }
    say(`Text ${where}. Signing with this browser's key and relaying…`);
    return relay("post", { digest, parentId, parentDigest });
  });
  if (postId) {
    await reread(parent ? [parent.id] : []);
    if (!parent) location.hash = `#/post/${postId}`;
  }
}

/** Vote on ``post`` (+1 or -1), for the reader's ``given`` state (write.js's context). */
export async function vote(/** @type {Context} */ given, /** @type {any} */ post, /** @type {number} */ direction, /** @type {HTMLElement} */ line) {
  context = given;
  await act(line, async (say) => {
    if (mode() === "wallet") {
      say("Waiting for your wallet…");
      return viaWallet("vote", [post.id, post.digest, direction]);
    }
    say("Signing your vote with this browser's key and relaying…");
    return relay("vote", { postId: post.id, postDigest: post.digest, direction });
  });
  if (line.dataset.done === "vote") await reread([post.id]);
}

