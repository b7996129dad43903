// @ts-check
// A first visit: two sentences on the browser key versus a wallet, until dismissed; after the first post signed by
// the browser key, a nudge to back the key up, until it is exported or dismissed. Kept in this browser only.

import { signerMode } from "./signer.js";

const WELCOMED = "indelible.welcomed";
const NUDGE = "indelible.key-nudge"; // "due" after the first post by the browser key, "done" once handled

/** Note a post just sent: the first one by the browser key makes the backup nudge due. */
export function noteFirstPost() {
  if (signerMode() !== "wallet" && !localStorage.getItem(NUDGE)) localStorage.setItem(NUDGE, "due");
}

/** Show ``box`` (a server-rendered, hidden notice) and hide it for good when its button is pressed. */
function offer(/** @type {HTMLElement} */ box, /** @type {string} */ item, /** @type {string} */ value) {
  box.hidden = false;
  box.querySelector("[data-dismiss]")?.addEventListener("click", () => {
    localStorage.setItem(item, value);
    box.hidden = true;
    document.getElementById("main")?.focus();
  });
}

/** Show the first-visit notice or the backup nudge where due; exporting the key settles the nudge. */
export function initWelcome() {
  const welcome = document.querySelector("[data-welcome]");
  const nudge = document.querySelector("[data-key-nudge]");
  if (nudge instanceof HTMLElement && localStorage.getItem(NUDGE) === "due") offer(nudge, NUDGE, "done");
  else if (welcome instanceof HTMLElement && !localStorage.getItem(WELCOMED)) offer(welcome, WELCOMED, "1");
  document.getElementById("key-export")?.addEventListener("click", () => {
    if (localStorage.getItem(NUDGE)) localStorage.setItem(NUDGE, "done");
  });
}
