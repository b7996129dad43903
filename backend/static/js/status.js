// @ts-check
// The status page follows the chain by itself: it is re-rendered every few seconds.

import { fetchMain } from "./ui.js";

const REFRESH_MS = 5000;

/** On the status page, replace <main> with a fresh rendering every few seconds (unless the reader is in it). */
export function initStatusPage() {
  if (!document.getElementById("status")) return;
  setInterval(async () => {
    const fresh = await fetchMain("/status");
    const main = document.querySelector("main");
    if (fresh && main && !main.contains(document.activeElement)) main.replaceChildren(...fresh.childNodes);
  }, REFRESH_MS);
}
