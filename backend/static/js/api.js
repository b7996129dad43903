// @ts-check
// The JSON API, as the pages' scripts use it. Every error is {"detail": "..."}.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function _check(response) {
  if (response.ok) return response.json();
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    // not JSON: keep the status line
  }
  throw new ApiError(detail, response.status);
}

export async function getJSON(url) {
  return _check(await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" }));
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return _check(response);
}

// the ids /api/votes answers for in one request
const VOTES_PER_REQUEST = 100;

/**
 * The standing votes of address on postIds as the index knows them: {postId: 1 | -1}, posts
 * without a vote left out. One request per 100 distinct ids, sent together.
 */
export async function votesOf(address, postIds) {
  const ids = [...new Set(postIds.map(String))];
  const requests = [];
  for (let start = 0; start < ids.length; start += VOTES_PER_REQUEST) {
    const posts = ids.slice(start, start + VOTES_PER_REQUEST).join(",");
    requests.push(getJSON(`/api/votes/${encodeURIComponent(address)}?posts=${posts}`));
  }
  const answers = await Promise.all(requests);
  return Object.assign({}, ...answers.map((answer) => answer.votes));
}

let contractPromise = null;

/** Address, chain id, ABI and EIP-712 domain and types of the Board (fetched once per page). */
export function contractInfo() {
  if (!contractPromise) {
    contractPromise = getJSON("/api/contract").catch((error) => {
      contractPromise = null;
      throw error;
    });
  }
  return contractPromise;
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return "0x" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Pin a content document and return {cid, digest}. The digest is computed here
 * too: we put on chain only a hash of bytes we hashed ourselves.
 */
export async function uploadContent(doc, isReply) {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const response = await fetch(`/api/content?reply=${isReply ? "true" : "false"}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: bytes,
  });
  const pinned = await _check(response);
  const digest = await sha256Hex(bytes);
  if (pinned.digest.toLowerCase() !== digest) {
    throw new ApiError(`the server answered digest ${pinned.digest} for content whose digest is ${digest}`, 502);
  }
  return { cid: pinned.cid, digest };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Call check() every interval ms until it returns a truthy value or timeout ms pass (then null). */
export async function poll(check, { interval = 500, timeout = 60000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500 && error.status !== 503) throw error;
    }
    if (Date.now() > deadline) return null;
    await sleep(interval);
  }
}
