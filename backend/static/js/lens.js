// @ts-check
// The reader's lens, kept in this browser (localStorage) and sent only as parameters of the reader's own
// requests: the server renders every page from `fold`, `trust` and `mute` in its URL and the lens's name
// from the `lens` cookie (docs/ranking.md). Here: the stored settings, carrying them on internal links and
// forms, opening a page again once when it came without them, and the "mute author" / "unmute" controls.

const STORE = "indelible.reader";
export const LENSES = ["default", "all", "trusted", "never"];
export const MAX_ADDRESSES = 100; // as the server's (backend/views/lens.py)
const COOKIE_SECONDS = 365 * 86400;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
// pages whose listings follow the lens; the others need no parameters
const READING = /^\/($|new$|top$|controversial$|t\/|posts\/|authors\/|search$|inbox$)/;
const CARRIED = ["fold", "trust", "mute"];

/** @typedef {{lens: string, fold: number | null, trust: string[], mute: string[]}} ReaderSettings */

/** @returns {ReaderSettings} */
export function defaultSettings() {
  return { lens: "default", fold: null, trust: [], mute: [] };
}

/** @param {unknown} list @returns {string[]} addresses, once each (case-insensitively), at most MAX_ADDRESSES */
function addresses(list) {
  if (!Array.isArray(list)) return [];
  /** @type {Map<string, string>} */
  const seen = new Map();
  for (const item of list) {
    if (typeof item === "string" && ADDRESS.test(item) && !seen.has(item.toLowerCase())) seen.set(item.toLowerCase(), item);
  }
  return [...seen.values()].slice(0, MAX_ADDRESSES);
}

/** Settings from untrusted JSON (a file, the store), every field checked; throws on something not settings.
 * @param {unknown} value @returns {ReaderSettings} */
export function checkSettings(value) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a settings object");
  const given = /** @type {Record<string, unknown>} */ (value);
  const lens = typeof given.lens === "string" && LENSES.includes(given.lens) ? given.lens : "default";
  const fold = Number.isInteger(given.fold) && Math.abs(Number(given.fold)) <= 1e9 ? Number(given.fold) : null;
  return { lens, fold, trust: addresses(given.trust), mute: addresses(given.mute) };
}

/** @returns {ReaderSettings} the stored settings, or the defaults */
export function readerSettings() {
  try {
    const stored = localStorage.getItem(STORE);
    return stored ? checkSettings(JSON.parse(stored)) : defaultSettings();
  } catch {
    return defaultSettings();
  }
}

/** Store ``settings`` and the lens cookie (only the lens's name). @param {ReaderSettings} settings */
export function saveReaderSettings(settings) {
  const checked = checkSettings(settings);
  localStorage.setItem(STORE, JSON.stringify(checked));
  document.cookie = `lens=${checked.lens}; path=/; max-age=${COOKIE_SECONDS}; samesite=lax`;
  return checked;
}

/** The parameters a page needs for ``settings`` (none for what the defaults already give).
 * @param {ReaderSettings} settings @returns {Record<string, string>} */
export function readerParams(settings) {
  /** @type {Record<string, string>} */
  const params = {};
  if (settings.fold !== null) params.fold = String(settings.fold);
  if (settings.lens === "trusted" && settings.trust.length) params.trust = settings.trust.join(",");
  if (settings.mute.length) params.mute = settings.mute.join(",");
  return params;
}

/** ``href`` with the reader's parameters in place of any it had; null when it is not a reading page here.
 * @param {string} href @param {ReaderSettings} settings */
export function withReaderParams(href, settings) {
  const url = new URL(href, window.location.href);
  if (url.origin !== window.location.origin || !READING.test(url.pathname)) return null;
  for (const name of [...CARRIED, "lens"]) url.searchParams.delete(name);
  for (const [name, value] of Object.entries(readerParams(settings))) url.searchParams.set(name, value);
  return url.pathname + url.search + url.hash;
}

/** Open this page again with the reader's settings (after a change). */
export function reloadWithSettings() {
  const target = withReaderParams(window.location.href, readerSettings());
  window.location.replace(target || window.location.href);
}

/** @param {ReaderSettings} settings whether this page's URL already asks for exactly these settings */
function pageMatches(settings) {
  const asked = new URLSearchParams(window.location.search);
  const wanted = readerParams(settings);
  return !asked.has("lens") && CARRIED.every((name) => (asked.get(name) || null) === (wanted[name] || null));
}

/** Carry the settings on links and GET forms to reading pages, at once and when clicked (links added later). */
function carry(/** @type {ReaderSettings} */ settings) {
  for (const link of document.querySelectorAll("a[href]")) {
    if (!(link instanceof HTMLAnchorElement) || link.hasAttribute("download")) continue;
    const target = withReaderParams(link.getAttribute("href") || "", settings);
    if (target) link.setAttribute("href", target);
  }
  for (const form of document.querySelectorAll("form")) {
    if (!(form instanceof HTMLFormElement) || form.method !== "get" || !READING.test(new URL(form.action).pathname)) {
      continue;
    }
    for (const [name, value] of Object.entries(readerParams(settings))) {
      const input = document.createElement("input");
      Object.assign(input, { type: "hidden", name, value });
      form.append(input);
    }
  }
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!(link instanceof HTMLAnchorElement) || link.hasAttribute("download")) return;
    const target = withReaderParams(link.getAttribute("href") || "", settings);
    if (target) link.setAttribute("href", target);
  });
}

/** Mute or unmute ``author`` and show the page again under the new settings. @param {string} author */
export function setMuted(author, muted) {
  const settings = readerSettings();
  const others = settings.mute.filter((address) => address.toLowerCase() !== author.toLowerCase());
  if (muted && others.length >= MAX_ADDRESSES) throw new Error(`at most ${MAX_ADDRESSES} muted authors`);
  saveReaderSettings({ ...settings, mute: muted ? [...others, author] : others });
  reloadWithSettings();
}

/** The "mute author" button of every post and the "unmute" line of muted ones. */
function muteControls() {
  for (const button of document.querySelectorAll("[data-mute], [data-muted-line]")) {
    if (button instanceof HTMLElement) button.hidden = false;
  }
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-mute], [data-unmute]") : null;
    const post = button?.closest("[data-author]");
    if (!(button instanceof HTMLElement) || !(post instanceof HTMLElement) || !post.dataset.author) return;
    setMuted(post.dataset.author, button.hasAttribute("data-mute"));
  });
}

/** Whether this page's URL carries any lens parameter (lens, fold, trust, mute). */
function urlHasLens() {
  const asked = new URLSearchParams(window.location.search);
  return [...CARRIED, "lens"].some((name) => asked.has(name));
}

/**
 * Say whose choice this page's lens is (issue 19.10): the reader's, when the URL holds exactly their saved settings
 * (or none at all), else "set by this link", with one click back to their own settings. The server labels
 * everything the URL carries as the link's (it cannot see saved settings); this relabels what is the reader's.
 * @param {boolean} stored whether the reader ever saved settings @param {ReaderSettings} settings
 */
function labelLens(stored, settings) {
  const fromLink = stored ? !pageMatches(settings) : urlHasLens();
  for (const reason of document.querySelectorAll("[data-fold-reason]")) {
    if (!(reason instanceof HTMLElement)) continue;
    if (reason.dataset.foldReason === "mute") reason.textContent = fromLink ? "muted by this link" : "muted by you";
    else reason.textContent = fromLink ? "folded by votes (lens set by this link)" : "folded by votes";
  }
  for (const owner of document.querySelectorAll("[data-lens-owner]")) {
    owner.textContent = fromLink ? "lens set by this link" : "lens";
  }
  const [mine, theirs] = ["your lens (", "the lens set by this link ("];
  for (const words of document.querySelectorAll("details.score .tally, details.score > summary[title]")) {
    const from = fromLink ? mine : theirs;
    const to = fromLink ? theirs : mine;
    if (words.hasAttribute("title")) words.setAttribute("title", (words.getAttribute("title") || "").replace(from, to));
    else words.textContent = (words.textContent || "").replace(from, to);
  }
  const note = document.getElementById("link-lens");
  if (note) note.hidden = !fromLink;
  const back = note?.querySelector("[data-own-settings]");
  if (fromLink && back instanceof HTMLAnchorElement) {
    const own = withReaderParams(window.location.href, stored ? settings : defaultSettings());
    if (own) back.href = own;
  }
}

/** Shape this page by the reader's settings: open it again once if it came without them, else carry them on. */
export function initLens() {
  muteControls();
  const stored = Boolean(localStorage.getItem(STORE));
  labelLens(stored, readerSettings());
  if (!stored) return; // never chosen: the board's defaults, or what a link asked, labelled as the link's
  const settings = readerSettings();
  const lensCookie = () => document.cookie.split("; ").includes(`lens=${settings.lens}`);
  let cookieFixed = false;
  if (!lensCookie()) {
    saveReaderSettings(settings); // the cookie went, the choice stayed
    cookieFixed = lensCookie(); // false when cookies are refused: then never reload for it (no loop)
  }
  if (READING.test(window.location.pathname) && (!pageMatches(settings) || cookieFixed)) {
    reloadWithSettings();
    return;
  }
  carry(settings);
}
