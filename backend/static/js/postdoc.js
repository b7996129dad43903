// @ts-check
// The content document rule (docs/content.md; backend/content/document.py, parse_document) in the browser:
// the same verdict, valid or invalid, for every byte string, so that the reader can tell whether a node that
// calls a post invalid (or missing) is hiding a valid one. Reasons are worded as the server's where it is cheap.

import { PY_SPACE } from "./markdown.js";

export const MAX_BYTES = 64 * 1024;
const MAX_TITLE_CHARS = 300;
const MAX_TOPIC_CHARS = 32;
const KEYS = new Set(["title", "body", "topic"]);
const TOPIC = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
// lone surrogates, C0 controls but tab/LF/CR, DEL and C1, noncharacters (the "u" flag: a valid pair is one
// character, as in Python's str); control characters are what it is for
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex
  /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\u{1fffe}\u{1ffff}\u{2fffe}\u{2ffff}\u{3fffe}\u{3ffff}\u{4fffe}\u{4ffff}\u{5fffe}\u{5ffff}\u{6fffe}\u{6ffff}\u{7fffe}\u{7ffff}\u{8fffe}\u{8ffff}\u{9fffe}\u{9ffff}\u{afffe}\u{affff}\u{bfffe}\u{bffff}\u{cfffe}\u{cffff}\u{dfffe}\u{dffff}\u{efffe}\u{effff}\u{ffffe}\u{fffff}\u{10fffe}\u{10ffff}]/u;
const BLANK = new RegExp(`^[${PY_SPACE}]*$`);
// JSON's tokens, for the duplicate-key scan of a flat object JSON.parse has accepted
const TOKENS = /"(?:[^"\\]|\\.)*"|[{}[\],:]|[^\s{}[\],:"]+/g;

export class InvalidDocument extends Error {}

/** @typedef {{title: string | null, body: string, topic: string | null}} PostDocument */

/** Refuse any array or object inside the top level (the server's pre-scan, before parsing). */
function refuseNesting(/** @type {string} */ text) {
  let depth = 0;
  let inString = false;
  for (let at = 0; at < text.length; at++) {
    const char = text[at];
    if (inString) {
      if (char === "\\") at += 1;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "[" || char === "{") {
      depth += 1;
      if (depth > 1) throw new InvalidDocument("nested value: a document is a flat object of strings");
    } else if (char === "]" || char === "}") depth -= 1;
  }
}

/** The keys of a flat JSON object's text, in order (duplicates kept). */
function keysOf(/** @type {string} */ text) {
  const tokens = text.match(TOKENS) || [];
  const keys = [];
  for (let i = 1; i < tokens.length - 1; i++) {
    if (tokens[i + 1] === ":" && (tokens[i - 1] === "{" || tokens[i - 1] === ",")) keys.push(JSON.parse(tokens[i]));
  }
  return keys;
}

function checkText(/** @type {string} */ key, /** @type {unknown} */ text) {
  if (typeof text !== "string") return;
  const found = FORBIDDEN.exec(text);
  if (found) {
    const code = /** @type {number} */ (found[0].codePointAt(0));
    const kind =
      code >= 0xd800 && code <= 0xdfff
        ? "a lone UTF-16 surrogate"
        : code < 0x20 || (code >= 0x7f && code <= 0x9f)
          ? "a control character"
          : "a Unicode noncharacter";
    throw new InvalidDocument(`'${key}' contains ${kind} (U+${code.toString(16).toUpperCase().padStart(4, "0")})`);
  }
}

/**
 * ``bytes`` as a valid document of the kind the chain gives (``reply``: its parent is not 0); InvalidDocument
 * with the reason otherwise, whatever the bytes. @param {Uint8Array} bytes @param {boolean} reply
 * @returns {PostDocument}
 */
export function parseDocument(bytes, reply) {
  if (bytes.length > MAX_BYTES) throw new InvalidDocument(`content is ${bytes.length} bytes; the limit is ${MAX_BYTES}`);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new InvalidDocument("content starts with a byte order mark; documents are UTF-8 without one");
  }
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InvalidDocument("content is not valid UTF-8");
  }
  refuseNesting(text);
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidDocument(`content is not valid JSON (${error.message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidDocument("content must be a JSON object");
  }
  const keys = keysOf(text);
  const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
  if (duplicate !== undefined) throw new InvalidDocument(`duplicate key ${JSON.stringify(duplicate)}`);
  const extra = Object.keys(value).filter((key) => !KEYS.has(key)).sort();
  if (extra.length) {
    throw new InvalidDocument(`unknown key ${JSON.stringify(extra[0])}: only 'title', 'body' and 'topic' are allowed`);
  }
  const body = value.body;
  if (typeof body !== "string") throw new InvalidDocument("'body' must be a string");
  for (const key of Object.keys(value).sort()) checkText(key, value[key]);
  if (reply) {
    if ("title" in value) throw new InvalidDocument("a reply must not have a title");
    if ("topic" in value) throw new InvalidDocument("a reply must not have a topic: it is in its thread's");
    if (BLANK.test(body)) throw new InvalidDocument("a reply needs a non-empty body");
    return { title: null, body, topic: null };
  }
  const title = value.title;
  if (!("title" in value)) throw new InvalidDocument("a top-level post needs a title");
  if (typeof title !== "string" || BLANK.test(title)) throw new InvalidDocument("'title' must be a non-empty string");
  const length = [...title].length;
  if (length > MAX_TITLE_CHARS) {
    throw new InvalidDocument(`'title' has ${length} characters; the limit is ${MAX_TITLE_CHARS}`);
  }
  let topic = null;
  if ("topic" in value) {
    topic = value.topic;
    if (typeof topic !== "string" || topic.length > MAX_TOPIC_CHARS || !TOPIC.test(topic)) {
      throw new InvalidDocument(
        `'topic' must be a lowercase slug (a-z, 0-9, single hyphens inside), 1 to ${MAX_TOPIC_CHARS} characters`,
      );
    }
  }
  return { title, body, topic };
}
