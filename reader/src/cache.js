// @ts-check
// What was read, kept in IndexedDB per (chain id, Board): the posts (getPost's fields, tallies as of ``block``)
// and the verified files by digest. A later visit reads only what changed: new post ids, and the VoteCast logs
// since ``block`` (each carries the post's tallies after it); a changed hash of ``block`` (a reorg) drops it.

const DB = "indelible-reader";
const VERSION = 1;

/** @returns {Promise<IDBDatabase | null>} null where the browser keeps no IndexedDB (then nothing is cached) */
function open() {
  return new Promise((resolve) => {
    let request;
    try {
      request = indexedDB.open(DB, VERSION);
    } catch {
      resolve(null);
      return;
    }
    request.onupgradeneeded = () => {
      request.result.createObjectStore("boards");
      request.result.createObjectStore("files");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
}

let opened = /** @type {Promise<IDBDatabase | null> | null} */ (null);
const database = () => (opened ||= open());

/** Open the database now (a first open in a new profile takes a while), while the chain is asked. */
export function openEarly() {
  database();
}

/** @param {string} store @param {string} key */
async function get(store, key) {
  const db = await database();
  if (!db) return undefined;
  return new Promise((resolve) => {
    const request = db.transaction(store).objectStore(store).get(key);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(undefined);
  });
}

/** @param {string} store @param {string} key @param {any} value */
async function put(store, key, value) {
  const db = await database();
  if (!db) return;
  await new Promise((resolve) => {
    const transaction = db.transaction(store, "readwrite");
    transaction.objectStore(store).put(value, key);
    transaction.oncomplete = () => resolve(undefined);
    transaction.onerror = () => resolve(undefined);
  });
}

/** @typedef {{block: number, blockHash: string, deployment: number | null, codeChecked: string, posts: any[][]}} BoardRecord */

export const boardKey = (/** @type {bigint} */ chainId, /** @type {string} */ address) => `${chainId}:${address.toLowerCase()}`;
export const loadBoard = (/** @type {string} */ key) => /** @type {Promise<BoardRecord | undefined>} */ (get("boards", key));
export const saveBoard = (/** @type {string} */ key, /** @type {BoardRecord} */ record) => put("boards", key, record);

/**
 * Files asked or kept in the same turn of the event loop (a thread's replies are asked together) go in one
 * transaction: a transaction per file costs a new profile about 1 ms each (100 puts: 75-120 ms, one: 5-16).
 * @type {{gets: Map<string, ((bytes: Uint8Array | undefined) => void)[]>, puts: Map<string, Uint8Array>,
 *   saved: (() => void)[]} | null}
 */
let pending = null;

function later() {
  if (pending) return pending;
  const mine = { gets: new Map(), puts: new Map(), saved: [] };
  pending = mine;
  setTimeout(async () => {
    pending = null;
    const db = await database();
    if (mine.gets.size) {
      const answered = (/** @type {string} */ digest, /** @type {any} */ value) => {
        for (const resolve of mine.gets.get(digest) || []) resolve(value);
      };
      if (!db) for (const digest of mine.gets.keys()) answered(digest, undefined);
      else {
        const store = db.transaction("files").objectStore("files");
        for (const digest of mine.gets.keys()) {
          const request = store.get(digest);
          request.onsuccess = () => answered(digest, request.result);
          request.onerror = () => answered(digest, undefined);
        }
      }
    }
    if (mine.puts.size || mine.saved.length) {
      const done = () => mine.saved.forEach((resolve) => resolve());
      if (!db || !mine.puts.size) done();
      else {
        const transaction = db.transaction("files", "readwrite");
        const store = transaction.objectStore("files");
        for (const [digest, bytes] of mine.puts) store.put(bytes, digest);
        transaction.oncomplete = done;
        transaction.onerror = done;
        transaction.onabort = done;
      }
    }
  }, 0);
  return mine;
}

/** A file kept by its digest (undefined when none): asked with the others of this turn. */
export function loadFile(/** @type {string} */ digest) {
  return /** @type {Promise<Uint8Array | undefined>} */ (
    new Promise((resolve) => {
      const gets = later().gets;
      gets.set(digest, [...(gets.get(digest) || []), resolve]);
    })
  );
}

/** Keep a verified file by its digest: written with the others of this turn. */
export function saveFile(/** @type {string} */ digest, /** @type {Uint8Array} */ bytes) {
  return /** @type {Promise<void>} */ (
    new Promise((resolve) => {
      const batch = later();
      batch.puts.set(digest, bytes);
      batch.saved.push(() => resolve(undefined));
    })
  );
}

/** Forget everything (the "forget what was read" button, and tests). */
export async function clearAll() {
  const db = await database();
  if (!db) return;
  for (const store of ["boards", "files"]) {
    await new Promise((resolve) => {
      const transaction = db.transaction(store, "readwrite");
      transaction.objectStore(store).clear();
      transaction.oncomplete = () => resolve(undefined);
    });
  }
}
