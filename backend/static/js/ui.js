// @ts-check
// Small pieces every page shares: toasts, status lines, relative times, a message across a navigation,
// and replacing <main> with a freshly rendered copy.

import { relativeTime } from "./time.js";

// a message carried across a navigation (after a new post, to its page)
const FLASH_ITEM = "indelible.flash";

/** Show text in the toast box for six seconds. */
export function toast(text) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const line = document.createElement("p");
  line.textContent = text;
  box.append(line);
  setTimeout(() => line.remove(), 6000);
}

/**
 * Show text in a status line, with its state ("pending", "confirmed", "error") for styling.
 * @param {Element | null} element
 * @param {string} state
 * @param {string} text
 */
export function setStatus(element, state, text) {
  if (!(element instanceof HTMLElement)) return;
  element.dataset.state = state;
  element.textContent = text;
}

/** Keep text to show as a toast on the next page this tab opens. */
export function flashNext(text) {
  sessionStorage.setItem(FLASH_ITEM, text);
}

/** Show the message the previous page left, once. */
export function showFlash() {
  const flash = sessionStorage.getItem(FLASH_ITEM);
  if (flash) {
    sessionStorage.removeItem(FLASH_ITEM);
    toast(flash);
  }
}

/** Reword every <time data-ts> as "3 minutes ago". */
export function updateTimes() {
  for (const time of document.querySelectorAll("time[data-ts]")) {
    if (time instanceof HTMLElement) time.textContent = relativeTime(Number(time.dataset.ts));
  }
}

/**
 * The <main> of the page at url as the server renders it now, or null when it does not answer.
 * @param {string} url
 * @param {Record<string, string>} [headers]
 */
export async function fetchMain(url, headers = {}) {
  const response = await fetch(url, { headers, cache: "no-store" });
  if (!response.ok) return null;
  return new DOMParser().parseFromString(await response.text(), "text/html").querySelector("main");
}

/** Move the element matching selector into view and give it focus (after a refresh). */
export function focusOn(selector) {
  const target = selector && document.querySelector(selector);
  if (!(target instanceof HTMLElement)) return;
  target.setAttribute("tabindex", "-1");
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}
