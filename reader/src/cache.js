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
 * The digests of the files kept, read once (one getAllKeys): a file this browser never kept is not asked for in a
 * transaction of its own (a cold visit asks none).
 * @type {Promise<Set<string>> | null}
 */
let kept = null;
function keptDigests() {
  kept ??= database().then(
    (db) =>
      new Promise((resolve) => {
        if (!db) return resolve(new Set());
        const request = db.transaction("files").objectStore("files").getAllKeys();
        request.onsuccess = () => resolve(new Set(/** @type {string[]} */ (request.result)));
        request.onerror = () => resolve(new Set());
      }),
  );
  return kept;
}

/**
 * Files asked in the same turn of the event loop (a thread's replies are asked together) go in one transaction: a
 * transaction per file costs a new profile about 1 ms each (100 gets: 75-120 ms, one: 5-16).
 * @type {Map<string, ((bytes: Uint8Array | undefined) => void)[]> | null}
 */
let gets = null;

/** A file kept by its digest (undefined when none): asked with the others of this turn. */
export async function loadFile(/** @type {string} */ digest) {
  if (!(await keptDigests()).has(digest)) return undefined;
  return /** @type {Promise<Uint8Array | undefined>} */ (
    new Promise((resolve) => {
      if (!gets) {
        const mine = new Map();
        gets = mine;
        setTimeout(async () => {
          gets = null;
          const db = await database();
          const answered = (/** @type {string} */ key, /** @type {any} */ value) => {
            for (const done of mine.get(key) || []) done(value);
          };
          if (!db) for (const key of mine.keys()) answered(key, undefined);
          else {
            const store = db.transaction("files").objectStore("files");
            for (const key of mine.keys()) {
              const request = store.get(key);
              request.onsuccess = () => answered(key, request.result);
              request.onerror = () => answered(key, undefined);
            }
          }
        }, 0);
      }
      gets.set(digest, [...(gets.get(digest) || []), resolve]);
    })
  );
}

/** Verified files to keep, written by ``keepFiles`` (once the view is shown: the writes cost the browser's CPU). */
const toKeep = new Map();

/** Keep a verified file by its digest: written with the others at the next ``keepFiles``. */
export function saveFile(/** @type {string} */ digest, /** @type {Uint8Array} */ bytes) {
  toKeep.set(digest, bytes);
}

/** Write the files ``saveFile`` was given since the last call, in one transaction. */
export async function keepFiles() {
  if (!toKeep.size) return;
  const files = [...toKeep];
  toKeep.clear();
  const db = await database();
  if (!db) return;
  const set = await keptDigests();
  await new Promise((resolve) => {
    const transaction = db.transaction("files", "readwrite");
    const store = transaction.objectStore("files");
    for (const [digest, bytes] of files) store.put(bytes, digest);
    transaction.oncomplete = () => {
      for (const [digest] of files) set.add(digest);
      resolve(undefined);
    };
    transaction.onerror = () => resolve(undefined);
    transaction.onabort = () => resolve(undefined);
  });
}

/** Forget everything (the "forget what was read" button, and tests). */
export async function clearAll() {
  const db = await database();
  if (!db) return;
  kept = Promise.resolve(new Set());
  toKeep.clear();
  for (const store of ["boards", "files"]) {
    await new Promise((resolve) => {
      const transaction = db.transaction(store, "readwrite");
      transaction.objectStore(store).clear();
      transaction.oncomplete = () => resolve(undefined);
    });
  }
}
