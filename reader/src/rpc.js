// @ts-check
// JSON-RPC from the browser to the chain nodes the reader named, built for hosted providers: batches cut to
// the provider's cap (halved when it refuses a batch), 429 answered by waiting its Retry-After (502, 503 and a
// failed connection retried a few times too), eth_getLogs
// ranges halved when the provider refuses a span or a result size, and the next URL tried when one fails.
// Every error names the URL and what it answered. The answers early.js asked for while the module loaded are taken
// for the same request to the same URL (takeEarly), then checked as any other.

import { MAX_LOG_SPAN, batchBody, callBody, logsRequest } from "./plan.js";

const MAX_WAITS = 5; // 429s in a row before giving up on one URL
const MAX_WAIT_SECONDS = 30;
const CONCURRENCY = 4;
// what providers say when a range or a result is too large (Alchemy, Infura, QuickNode, Ganache-style caps)
const TOO_MUCH = /range|too many|too large|exceed|limit|10000|response size|more than/i;

export class RpcError extends Error {
  /** @param {string} url @param {string} message @param {number} [code] */
  constructor(url, message, code) {
    super(`${hostOf(url)} ${message}`);
    this.url = url;
    this.code = code;
  }
}

/** The host (and port) of a URL, as errors name it. */
export function hostOf(/** @type {string} */ url) {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {{answers: Map<string, Promise<{status: number, text: string} | null>>, asked: Set<string>,
 *   sent: Set<string>}} Early what early.js asked, by URL and body (``answers``, until the module takes them;
 *   ``sent``, all it sent), and what the module asked (``asked``: early.js does not send those any more)
 */

/** early.js's answer to this very request (once), else null; either way early.js will not send it any more. */
function takeEarly(/** @type {string} */ key) {
  const early = /** @type {Early | undefined} */ (/** @type {any} */ (globalThis).indelibleEarly);
  if (!early) return null;
  early.asked.add(key);
  const answer = early.answers.get(key) || null;
  early.answers.delete(key);
  return answer;
}

/** Forget what early.js asked and nobody took (the first view is shown: its answers are not needed any more). */
export function dropEarly() {
  const early = /** @type {Early | undefined} */ (/** @type {any} */ (globalThis).indelibleEarly);
  early?.answers.clear();
}

/** @typedef {{method: string, params: any[]}} Request */

export class Rpc {
  /** @param {string[]} urls @param {{batchSize?: number, logSpan?: number}} [options] */
  constructor(urls, options = {}) {
    if (!urls.length) throw new Error("no RPC URL given");
    this.urls = urls;
    this.batchSize = options.batchSize || 100;
    this.maxSpan = options.logSpan || MAX_LOG_SPAN;
    this.logSpan = this.maxSpan;
    this.calls = 0; // HTTP requests made, for the progress line and the tests
    /** @type {(text: string) => void} */
    this.onWait = () => {};
  }

  /** POST one body to one URL; waits on 429 (Retry-After) and returns the parsed JSON. */
  async post(/** @type {string} */ url, /** @type {any} */ body) {
    const sent = JSON.stringify(body);
    const early = await takeEarly(`${url} ${sent}`);
    if (early) {
      this.calls += 1;
      if (early.status === 200) {
        try {
          return JSON.parse(early.text);
        } catch {
          // not JSON: asked again below, where what it answers is reported
        }
      }
    }
    for (let waits = 0; ; waits += 1) {
      let response;
      try {
        this.calls += 1;
        response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: sent,
          cache: "no-store",
        });
      } catch (error) {
        if (waits < MAX_WAITS - 3) {
          this.onWait(`${hostOf(url)} could not be reached (${error.message}); trying again`);
          await sleep(500 * (waits + 1));
          continue;
        }
        throw new RpcError(url, `could not be reached (${error.message})`);
      }
      const busy = response.status === 502 || response.status === 503;
      if ((response.status === 429 || busy) && waits < MAX_WAITS) {
        const after = Number(response.headers.get("Retry-After") ?? "x");
        const seconds = Number.isFinite(after) && after >= 0 ? Math.min(after, MAX_WAIT_SECONDS) : 1 + waits;
        this.onWait(`${hostOf(url)} answered HTTP ${response.status}${busy ? "" : ", asking to wait"}: waiting ${seconds} s`);
        await sleep(seconds * 1000);
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        throw new RpcError(url, `answered HTTP ${response.status}: ${text.slice(0, 200)}`, response.status);
      }
      try {
        return JSON.parse(text);
      } catch {
        throw new RpcError(url, `answered something that is not JSON: ${text.slice(0, 200)}`);
      }
    }
  }

  /** Try each URL in order until one answers; the last error if none does. */
  async anyUrl(/** @type {(url: string) => Promise<any>} */ attempt) {
    let last;
    for (const url of this.urls) {
      try {
        return await attempt(url);
      } catch (error) {
        last = error;
        if (!(error instanceof RpcError) || error.code === -32000) throw error; // an answer, not an outage
      }
    }
    throw last;
  }

  /** One call; its result, or an RpcError naming the URL and the node's message. */
  async call(/** @type {string} */ method, /** @type {any[]} */ params = []) {
    return this.anyUrl(async (url) => {
      const answer = await this.post(url, callBody({ method, params }));
      if (answer.error) throw new RpcError(url, `answered ${method} with error: ${answer.error.message}`, -32000);
      return answer.result;
    });
  }

  /**
   * Many calls in batches of at most ``batchSize`` (halved when the provider refuses a batch), a few batches at
   * once; the results in order. ``done(n)`` is told how many have been answered so far.
   * @param {Request[]} requests @param {(n: number) => void} [done] @returns {Promise<any[]>}
   */
  async batch(requests, done = () => {}) {
    const results = new Array(requests.length);
    let answered = 0;
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const start = next;
        const size = this.batchSize;
        next += size;
        const chunk = requests.slice(start, start + size);
        const answers = await this.batchOnce(chunk);
        answers.forEach((value, i) => (results[start + i] = value));
        answered += chunk.length;
        done(answered);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return results;
  }

  /** One batch; split in halves (and the cap lowered) when the provider will not take it whole. */
  async batchOnce(/** @type {Request[]} */ chunk) {
    return this.anyUrl(async (url) => {
      let answers;
      try {
        answers = await this.post(url, batchBody(chunk));
      } catch (error) {
        if (chunk.length > 1 && error instanceof RpcError && [400, 413].includes(Number(error.code))) {
          return this.halve(chunk);
        }
        throw error;
      }
      if (!Array.isArray(answers)) {
        // a provider that refuses batches, or this size of batch, answers one error object
        if (chunk.length > 1) return this.halve(chunk);
        throw new RpcError(url, `answered a batch with ${JSON.stringify(answers).slice(0, 200)}`);
      }
      const byId = new Map(answers.map((answer) => [answer.id, answer]));
      const out = [];
      for (let id = 0; id < chunk.length; id += 1) {
        const answer = byId.get(id);
        if (!answer) {
          if (chunk.length > 1) return this.halve(chunk); // a cap that drops the tail
          throw new RpcError(url, `left ${chunk[id].method} unanswered`);
        }
        if (answer.error) {
          if (answer.error.code === 429 || /rate|limit/i.test(answer.error.message || "")) {
            if (chunk.length > 1) return this.halve(chunk);
          }
          throw new RpcError(url, `answered ${chunk[id].method} with error: ${answer.error.message}`, -32000);
        }
        out.push(answer.result);
      }
      return out;
    });
  }

  async halve(/** @type {Request[]} */ chunk) {
    const half = Math.ceil(chunk.length / 2);
    this.batchSize = Math.max(1, Math.min(this.batchSize, half));
    const first = await this.batchOnce(chunk.slice(0, half));
    return [...first, ...(await this.batchOnce(chunk.slice(half)))];
  }

  /**
   * eth_getLogs over [from, to] for ``filter`` (address, topics), in spans the provider accepts: a refused span
   * or result is halved and asked again, down to one block, and doubled after a span that passed. Logs in chain
   * order.
   * @param {{address: string, topics: any[]}} filter @param {number} from @param {number} to
   * @param {(block: number) => void} [progress]
   */
  async logs(filter, from, to, progress = () => {}) {
    const found = [];
    let start = from;
    while (start <= to) {
      const end = Math.min(to, start + this.logSpan - 1);
      let answer;
      try {
        answer = await this.call("eth_getLogs", logsRequest(filter, start, end).params);
      } catch (error) {
        if (end > start && error instanceof RpcError && TOO_MUCH.test(error.message)) {
          this.logSpan = Math.max(1, Math.floor((end - start + 1) / 2));
          continue;
        }
        throw error;
      }
      found.push(...answer);
      progress(end);
      start = end + 1;
      // a span that passed is tried doubled next (a refusal halves it again): a dense stretch of the chain does
      // not keep a sparse one to its span
      this.logSpan = Math.min(this.maxSpan, this.logSpan * 2);
    }
    return found;
  }
}
