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
export const loadFile = (/** @type {string} */ digest) => /** @type {Promise<Uint8Array | undefined>} */ (get("files", digest));
export const saveFile = (/** @type {string} */ digest, /** @type {Uint8Array} */ bytes) => put("files", digest, bytes);

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
