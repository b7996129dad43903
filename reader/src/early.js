// @ts-check
// The first reads, sent from the top of the page while the reader's module (most of this file's bytes) is still
// being parsed and compiled: the chain id and head, then the code and the post count at that head (with the first
// probes for a thread's block), then, for a thread read whole, its logs' first spans, two at a time, as the module
// asks them. Nothing here is believed or shown: each request is built by plan.js as the module builds it, and the
// module (rpc.js) takes an answer only for the very request it sends itself, to the same URL, then checks it as any
// other: the code before anything is read, every post, log and file after. A request the module asked first is not
// sent here (``asked``); a failed or refused one is asked again by the module, which reports what it answered.

import {
  BATCH, LOG_SPANS, MAX_LOG_SPAN, WHOLE_THREAD, batchBody, callBody, closeEnough, codeRequests, countIn,
  countRequest, headRequests, logsRequest, narrowed, probePoints, spans,
} from "./plan.js"; // prettier-ignore

/** @type {import("./rpc.js").Early} */
const early = { answers: new Map(), asked: new Set(), sent: new Set() };
/** @type {any} */ (globalThis).indelibleEarly = early;

/**
 * POST ``body`` to ``url`` unless the module asked it already: its answer, kept for the module to take. Through
 * XMLHttpRequest, not fetch: its load event is one task, which the browser runs between the parser's tasks, so the
 * next request goes out while the page is still being parsed; fetch's answer (its promise, then its body, each a
 * task) was taken only once the page was parsed and the module compiled (the head's answer, in at 70-85 ms, was
 * taken at 155-160; with XMLHttpRequest at 105-110, and the logs asked at 150 ms instead of 220).
 */
function send(/** @type {string} */ url, /** @type {any} */ body) {
  const text = JSON.stringify(body);
  const key = `${url} ${text}`;
  if (early.asked.has(key) || early.answers.has(key)) return Promise.resolve(null);
  /** @type {Promise<{status: number, text: string} | null>} */
  const answer = new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = xhr.onabort = xhr.ontimeout = () => resolve(null); // the module asks again
    try {
      xhr.open("POST", url);
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(text);
    } catch {
      resolve(null);
    }
  });
  early.answers.set(key, answer);
  early.sent.add(key);
  return answer;
}

/** A (small) answer parsed, for the next request to be built from it; null when it failed. */
async function parsed(/** @type {Promise<{status: number, text: string} | null>} */ answer) {
  const got = await answer;
  if (!got || got.status !== 200) return null;
  try {
    return JSON.parse(got.text);
  } catch {
    return null;
  }
}

/** The results of a batch answer, in order, or null when any is missing or an error. */
function results(/** @type {any} */ answer, /** @type {number} */ length) {
  if (!Array.isArray(answer) || answer.length !== length) return null;
  const byId = new Map(answer.map((item) => [item?.id, item]));
  const out = [];
  for (let id = 0; id < length; id += 1) {
    const item = byId.get(id);
    if (!item || item.error || !("result" in item)) return null;
    out.push(item.result);
  }
  return out;
}

const word = (/** @type {any} */ answer) =>
  typeof answer === "string" && /^0x[0-9a-fA-F]{0,64}$/.test(answer) ? (answer === "0x" ? 0n : BigInt(answer)) : null;

async function start() {
  const query = new URLSearchParams(location.search);
  const rpc = query.getAll("rpc").join(",").split(",").map((s) => s.trim()).filter(Boolean)[0];
  const board = (query.get("board") || "").trim().toLowerCase();
  const facts = JSON.parse(document.getElementById("release")?.textContent || "{}");
  const batch = Number(query.get("batch")) || BATCH;
  if (!rpc || !/^0x[0-9a-f]{40}$/.test(board) || !/^https?:/.test(rpc)) return;
  const thread = /^#\/?post\/(\d+)$/.exec(location.hash);
  const id = thread ? Number(thread[1]) : 0;
  const head = results(await parsed(send(rpc, batchBody(headRequests()))), 2);
  const block = Number(head?.[1]?.number);
  if (!Number.isSafeInteger(block) || block < 1) return;
  performance.mark("reader:early-head"); // the head is in and the main thread free: the second request goes out
  const points = id >= 1 ? probePoints(0, block) : [];
  const second = [...codeRequests(board, block), ...points.map((at) => countRequest(board, at))];
  if (second.length > batch) return;
  const answers = results(await parsed(send(rpc, batchBody(second))), second.length);
  const count = word(answers?.[1]);
  if (!id || !answers || count === null || !facts.postCreatedTopic) return;
  // a thread read whole (main.js): every PostCreated since the root's block, found by one round of probes here
  const whole = query.get("whole") && Number(query.get("whole")) >= 0 ? Number(query.get("whole")) : WHOLE_THREAD;
  if (!(id <= countIn(count) && countIn(count) - id <= whole)) return;
  const counts = answers.slice(2).map(word);
  if (counts.includes(null)) return;
  const { low, high } = narrowed(0, block, points, counts.findIndex((value) => countIn(/** @type {bigint} */ (value)) >= id));
  if (low < high && !closeEnough(low, high, block)) return; // the module searches on
  const filter = { address: board, topics: [facts.postCreatedTopic] };
  const ranges = spans(low, block, LOG_SPANS);
  if (ranges.some(([from, to]) => to - from + 1 > MAX_LOG_SPAN)) return;
  const ask = (/** @type {number} */ i) => {
    if (i < ranges.length) send(rpc, callBody(logsRequest(filter, ...ranges[i]))).then(() => ask(i + 2)); // as board.js's eachCreated
  };
  performance.mark("reader:early-logs");
  ask(0);
  ask(1);
}

start().catch(() => {});
