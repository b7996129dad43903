// @ts-check
// Posting and voting, by wallet or by browser key, reporting pending -> confirmed -> indexed.

import { Contract } from "/static/vendor/ethers.min.js";
import { shortHash } from "./format.js";
import { ApiError, contractInfo, getJSON, poll, postJSON, uploadContent, votesOf } from "./api.js";
import { browserKey, rememberVote, signerMode, walletSigner } from "./signer.js";

const DEADLINE_SECONDS = 3600;
const NONCE_MISMATCH = /expected (\d+), got (\d+)/;

const ZERO_DIGEST = `0x${"00".repeat(32)}`;

async function walletBoard(info) {
  const signer = await walletSigner(info.chain_id);
  return { board: new Contract(info.address, info.abi, signer), address: await signer.getAddress() };
}

async function _indexed(postId) {
  const thread = await getJSON(`/api/posts/${postId}`);
  return thread.post || thread;
}

/**
 * The digest a reply or vote names its target by: the one on the page the user saw (shown), else
 * the index's. The contract refuses the action if the post at that id has another digest (a reorg).
 */
async function targetDigest(postId, shown) {
  if (shown) return shown;
  return (await _indexed(postId)).digest;
}

/** The nonce the signer's next signed action must carry: the index's, or after the relayer's pending action. */
async function nextNonce(address) {
  return (await getJSON(`/api/nonces/${address}`)).nonce;
}

/** Sign an EIP-712 message with the browser key and relay it; retries once when another action took our nonce. */
async function relaySigned(kind, fields, info) {
  const key = browserKey();
  const primary = info.eip712.primary_types[kind];
  const types = { [primary]: info.eip712.types[primary] };
  const signerField = kind === "post" ? "author" : "voter";
  const deadline = Math.floor(Date.now() / 1000) + DEADLINE_SECONDS;
  for (let attempt = 0; ; attempt += 1) {
    const nonce = await nextNonce(key.address);
    const message = { [signerField]: key.address, ...fields, nonce, deadline };
    const signature = await key.signTypedData(info.eip712.domain, types, message);
    try {
      const relayed = await postJSON("/api/relay", { kind, ...message, signature });
      return { txHash: relayed.tx_hash, address: key.address };
    } catch (error) {
      const stale = error instanceof ApiError && NONCE_MISMATCH.test(error.message);
      if (!stale || attempt > 0) throw error;
    }
  }
}

/**
 * Wait until the index shows the post sent in txHash: among the newest posts,
 * or among its parent's replies. Returns it, or null on timeout.
 */
async function indexedPost(parentId, txHash) {
  const sent = (post) => post.tx_hash.toLowerCase() === txHash.toLowerCase();
  return poll(async () => {
    if (parentId > 0) {
      const thread = await getJSON(`/api/posts/${parentId}?depth=1`);
      return thread.post.replies.find(sent) || null;
    }
    const feed = await getJSON("/api/posts?sort=new&limit=50");
    return feed.posts.find(sent) || null;
  });
}

/**
 * Post {title, body} (a reply when parentId > 0, bound to parentDigest, the parent as shown, when
 * given). report(state, text, step, detail) follows the steps "sign", "sent" (detail: the tx hash),
 * "chain" (detail: the block) and "shown" (detail: the post id), with state "pending", then "confirmed"
 * once shown on this node; resolves to the indexed post. Errors carry ``step``: where it stopped.
 */
export async function submitPost({ title, body, topic = undefined, parentId, parentDigest }, report) {
  let step = "sign";
  try {
    return await postSteps({ title, body, topic, parentId, parentDigest }, report, (next) => {
      step = next;
    });
  } catch (error) {
    error.step = step;
    throw error;
  }
}

async function postSteps({ title, body, topic, parentId, parentDigest }, report, at) {
  const isReply = parentId > 0;
  const parent = isReply ? await targetDigest(parentId, parentDigest) : ZERO_DIGEST;
  report("pending", "Saving your text on this node…", "sign");
  const { digest } = await uploadContent(isReply ? { body } : topic ? { title, body, topic } : { title, body }, isReply);
  const info = await contractInfo();
  let txHash;
  let block = null;
  if (signerMode() === "wallet") {
    report("pending", "Signing: confirm the transaction in your wallet…", "sign");
    const wallet = await walletBoard(info);
    const tx = await wallet.board.post(digest, parentId, parent);
    txHash = tx.hash;
    at("sent");
    report("pending", `Sent: transaction ${shortHash(txHash)}; waiting for a block…`, "sent", txHash);
    const receipt = await tx.wait();
    block = receipt.blockNumber;
    at("chain");
    report("pending", `On chain: block ${block}; waiting for this node to show it…`, "chain", String(block));
  } else {
    report("pending", "Signing with your browser key…", "sign");
    ({ txHash } = await relaySigned("post", { digest, parentId, parentDigest: parent }, info));
    at("sent");
    report("pending", `Sent: transaction ${shortHash(txHash)}, relayed; waiting for a block…`, "sent", txHash);
  }
  at(block === null ? "chain" : "shown");
  const post = await indexedPost(parentId, txHash);
  if (!post) {
    throw new Error(
      `transaction ${shortHash(txHash)} was sent, but this node has not shown it within a minute. ` +
        "It may still come: reload this page in a while before you post it again, or it may appear twice",
    );
  }
  if (block === null) {
    report("pending", `On chain: block ${post.block_number}.`, "chain", String(post.block_number));
  }
  at("shown");
  // shown: this node serves the post with its text, as a reader of its pages will get it
  const served = (await getJSON(`/api/posts/${post.id}?depth=0`)).post;
  if (served.content_status !== "pinned") {
    throw new Error(`post ${post.id} is on chain, but this node does not have its text yet; reload in a while`);
  }
  report("confirmed", `Shown on this node: post ${post.id}, in block ${post.block_number}.`, "shown", String(post.id));
  return post;
}

/** The vote of address on postId as the index has it: +1, -1, or 0 for none. */
async function indexedVote(address, postId) {
  return (await votesOf(address, [postId]))[postId] || 0;
}

/**
 * Vote direction (+1, -1, 0) on postId, bound to postDigest (the post as shown) when given, else to
 * the index's. report(state, text) sees "pending", then "confirmed" once the index shows the voter's
 * vote as direction, or "sent" if it does not within 30 s; resolves to {post (as indexed afterwards),
 * address, confirmed}.
 */
export async function castVote(postId, direction, report, postDigest) {
  const info = await contractInfo();
  const digest = await targetDigest(postId, postDigest);
  let address;
  if (signerMode() === "wallet") {
    report("pending", "Waiting for your wallet…");
    const wallet = await walletBoard(info);
    address = wallet.address;
    const tx = await wallet.board.vote(postId, digest, direction);
    report("pending", `Pending: vote ${shortHash(tx.hash)} sent…`);
    const receipt = await tx.wait();
    rememberVote(address, postId, direction);
    report("pending", `Vote in block ${receipt.blockNumber}; waiting for the index…`);
  } else {
    report("pending", "Signing your vote…");
    const relayed = await relaySigned("vote", { postId, postDigest: digest, direction }, info);
    address = relayed.address;
    report("pending", `Pending: vote ${shortHash(relayed.txHash)} relayed…`);
  }
  // the voter's own vote, not the tallies: others may vote on the post at the same time
  const shown = await poll(async () => (await indexedVote(address, postId)) === direction, { timeout: 30000 });
  const confirmed = shown !== null;
  if (confirmed) rememberVote(address, postId, direction);
  const post = await _indexed(postId);
  if (confirmed) report("confirmed", direction === 0 ? "Vote withdrawn." : "Vote confirmed.");
  else report("sent", "Vote sent; the index has not caught up yet: reload in a while.");
  return { post, address, confirmed };
}
