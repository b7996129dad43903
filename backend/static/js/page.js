// @ts-check
// Progressive enhancement of the server-rendered pages: everything here is optional for reading;
// posting and voting need it because keys live here. Importing this module does nothing: init() starts it.

import { showAccount } from "./account.js";
import { initComposing } from "./composing.js";
import { initInbox } from "./inbox.js";
import { initKeyPage } from "./keypage.js";
import { initLens } from "./lens.js";
import { initPreview } from "./preview.js";
import { initSettingsPage } from "./settingspage.js";
import { initStatusPage } from "./status.js";
import { initThread } from "./thread.js";
import { initBadges } from "./badges.js";
import { initKeyboard } from "./keyboard.js";
import { initWelcome } from "./welcome.js";
import { showFlash, updateTimes } from "./ui.js";
import { verifyPage } from "./verify.js";
import { initVoting, markVotes } from "./voting.js";

const TIMES_EVERY_MS = 30000;

/** Start every enhancement the current page has elements for. */
export function init() {
  document.documentElement.classList.add("js");
  initLens();
  initVoting();
  initComposing();
  showFlash();
  updateTimes();
  setInterval(updateTimes, TIMES_EVERY_MS);
  showAccount().then((address) => {
    markVotes();
    initInbox(address);
  });
  initKeyPage(showAccount);
  initPreview();
  initStatusPage();
  initSettingsPage();
  initThread();
  initBadges();
  initKeyboard();
  initWelcome();
  verifyPage().catch((error) => console.error("checking the page against the chain failed", error));
}
