// @ts-check
// The inbox: /inbox opens the reader's own, and the header counts replies not yet seen there.
// "Seen" is the newest reply id the reader's inbox showed, kept per address in localStorage.

import { getJSON } from "./api.js";
import { readerSettings, withReaderParams } from "./lens.js";

const SEEN_ITEM = "indelible.inbox.seen.";
const COUNTED = 100; // replies fetched for the count: more shows as "100+"

/** @param {string} address */
function seenKey(address) {
  return SEEN_ITEM + address.toLowerCase();
}

/** Open the reader's inbox, mark what it shows as seen, and show the unread count in the header. */
export async function initInbox(/** @type {string | null} */ address) {
  if (!address) return;
  if (document.querySelector("[data-inbox-find]")) {
    const inbox = `/inbox?address=${encodeURIComponent(address)}`;
    window.location.replace(withReaderParams(inbox, readerSettings()) || inbox); // the reader's lens in one step
    return;
  }
  const shown = document.querySelector("[data-inbox-address]");
  if (shown instanceof HTMLElement && (shown.dataset.inboxAddress || "").toLowerCase() === address.toLowerCase()) {
    const newest = Number(shown.dataset.inboxNewest || 0);
    if (newest > Number(localStorage.getItem(seenKey(address)) || 0)) {
      localStorage.setItem(seenKey(address), String(newest));
    }
  }
  await showUnread(address);
}

/** The header's count of replies newer than the last one the inbox showed. */
async function showUnread(/** @type {string} */ address) {
  const badge = document.getElementById("inbox-unread");
  const link = document.getElementById("inbox-link");
  if (!badge || !link) return;
  const seen = Number(localStorage.getItem(seenKey(address)) || 0);
  let doc;
  try {
    doc = await getJSON(`/api/authors/${encodeURIComponent(address)}/replies?limit=${COUNTED}`);
  } catch {
    return; // the count is a convenience: the inbox itself still works
  }
  const unread = doc.replies.filter((/** @type {{id: number}} */ reply) => reply.id > seen).length;
  badge.textContent = unread >= COUNTED ? ` ${COUNTED}+` : ` ${unread}`;
  badge.hidden = unread === 0;
  link.setAttribute("aria-label", unread ? `Inbox, ${badge.textContent.trim()} unread` : "Inbox");
}
