// @ts-check
// The settings page: the lens, the fold threshold, the trusted voters and the muted authors, kept in this
// browser by lens.js; export to a JSON file and import from one. And what the page checks rely on
// (verify.js): the Board the reader pins (address and chain id; a page from any other is flagged) and
// the reader's own IPFS gateway (post files are fetched from it too).

import { getAddress } from "/static/vendor/ethers.min.js";
import { MAX_ADDRESSES, checkSettings, readerSettings, saveReaderSettings } from "./lens.js";
import { MAX_SOURCES, isRpcUrl, saveSources, storedSources } from "./proof.js";
import { BOARD_ITEM, GATEWAY_ITEM, pinnedBoard, readerGateway } from "./verify.js";

const EXPORT_NAME = "indelible-settings.json";

/** @param {HTMLElement | null} box @param {string} text */
function say(box, text) {
  if (box) box.textContent = text;
}

/** Show the stored settings in the form and both lists. */
function show() {
  const settings = readerSettings();
  const form = /** @type {HTMLFormElement} */ (document.getElementById("settings-form"));
  for (const radio of form.querySelectorAll("input[name=lens]")) {
    if (radio instanceof HTMLInputElement) radio.checked = radio.value === settings.lens;
  }
  const fold = /** @type {HTMLInputElement} */ (document.getElementById("settings-fold"));
  fold.value = settings.fold === null ? "" : String(settings.fold);
  for (const section of document.querySelectorAll("[data-address-list]")) {
    if (!(section instanceof HTMLElement)) continue;
    const name = section.dataset.addressList === "trust" ? "trust" : "mute";
    const list = /** @type {HTMLElement} */ (section.querySelector("[data-addresses]"));
    list.replaceChildren(
      ...settings[name].map((address) => {
        const item = document.createElement("li");
        const code = document.createElement("code");
        code.className = "address";
        code.textContent = address;
        const remove = document.createElement("button");
        Object.assign(remove, { type: "button", textContent: "Remove", className: "link-button" });
        remove.setAttribute("aria-label", `Remove ${address}`);
        remove.addEventListener("click", () => {
          const now = readerSettings();
          saveReaderSettings({ ...now, [name]: now[name].filter((other) => other !== address) });
          show();
        });
        item.append(code, " ", remove);
        return item;
      }),
    );
    /** @type {HTMLElement} */ (section.querySelector("[data-empty]")).hidden = settings[name].length > 0;
  }
}

/** Add the address typed into one list's form. @param {HTMLFormElement} form @param {"trust" | "mute"} name */
function add(form, name) {
  const input = /** @type {HTMLInputElement} */ (form.elements.namedItem("address"));
  const status = /** @type {HTMLElement} */ (form.querySelector("[role=status]"));
  let address;
  try {
    address = getAddress(input.value.trim());
  } catch {
    say(status, "Not an address: 0x followed by 40 hex digits, with a valid checksum if mixed-case.");
    return;
  }
  const settings = readerSettings();
  if (settings[name].some((other) => other.toLowerCase() === address.toLowerCase())) {
    say(status, "Already in the list.");
    return;
  }
  if (settings[name].length >= MAX_ADDRESSES) {
    say(status, `At most ${MAX_ADDRESSES} addresses.`);
    return;
  }
  saveReaderSettings({ ...settings, [name]: [...settings[name], address] });
  input.value = "";
  say(status, `Added ${address}.`);
  show();
}

function exportSettings() {
  const blob = new Blob([JSON.stringify(readerSettings(), null, 2) + "\n"], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = EXPORT_NAME;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  say(document.getElementById("settings-transfer-status"), `Exported to ${EXPORT_NAME}.`);
}

/** @param {HTMLInputElement} input */
async function importSettings(input) {
  const status = document.getElementById("settings-transfer-status");
  const file = input.files?.[0];
  if (!file) return;
  try {
    const settings = saveReaderSettings(checkSettings(JSON.parse(await file.text())));
    say(status, `Imported: lens ${settings.lens}, ${settings.trust.length} trusted, ${settings.mute.length} muted.`);
  } catch {
    say(status, "That file holds no settings (expected the JSON of an export).");
  }
  input.value = "";
  show();
}

/** The further RPCs the browser's proofs ask for the header (proof.js keeps them). */
function initSources() {
  const form = document.getElementById("sources-form");
  if (!(form instanceof HTMLFormElement)) return;
  const urls = /** @type {HTMLTextAreaElement} */ (form.elements.namedItem("urls"));
  urls.value = storedSources().join("\n");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const lines = urls.value.split("\n").map((line) => line.trim()).filter(Boolean);
    const status = document.getElementById("sources-status");
    const bad = lines.find((line) => !isRpcUrl(line));
    if (bad !== undefined) return say(status, `Not an http or https URL: ${bad}`);
    if (lines.length > MAX_SOURCES) return say(status, `At most ${MAX_SOURCES} URLs.`);
    const kept = saveSources(lines);
    urls.value = kept.join("\n");
    say(status, kept.length ? `Saved: ${kept.length} more source${kept.length > 1 ? "s" : ""}.` : "Saved: no more sources.");
  });
}

/** A labelled input in a paragraph. @param {string} id @param {string} label @param {Partial<HTMLInputElement>} props */
function field(id, label, props) {
  const p = document.createElement("p");
  p.className = "field";
  const text = document.createElement("label");
  text.htmlFor = id;
  text.textContent = label;
  const input = Object.assign(document.createElement("input"), { id, autocomplete: "off", spellcheck: false }, props);
  p.append(text, " ", input);
  return { p, input };
}

/** The "Pinned Board and your gateway" section: pin the Board (address and chain id) and name your own IPFS gateway. */
function checksSection() {
  const section = document.createElement("section");
  section.className = "js-only";
  section.id = "settings-checks";
  // its own heading: the page's "Checks against the chain" section (the RPC) already holds checks-heading
  section.setAttribute("aria-labelledby", "pin-heading");
  const heading = Object.assign(document.createElement("h2"), {
    id: "pin-heading",
    textContent: "Pinned Board and your gateway",
  });
  const intro = document.createElement("p");
  intro.textContent =
    "Pages are checked in this browser against the Board you pin here; a page from any other contract or chain " +
    "is flagged. Post files are fetched from this node and from your own IPFS gateway, if you name one.";
  const form = document.createElement("form");
  form.id = "settings-checks-form";
  const address = field("settings-board", "Board address (0x + 40 hex digits)", { type: "text", name: "board" });
  const chain = field("settings-chain", "Chain id", { type: "text", name: "chain", inputMode: "numeric" });
  const gateway = field("settings-gateway", "Your IPFS gateway (e.g. https://gateway.example)", {
    type: "url",
    name: "gateway",
  });
  const buttons = document.createElement("p");
  const save = Object.assign(document.createElement("button"), { type: "submit", textContent: "Use these checks" });
  const pinHere = Object.assign(document.createElement("button"), {
    type: "button",
    textContent: "Pin this node's Board",
  });
  const unpin = Object.assign(document.createElement("button"), { type: "button", textContent: "Unpin the Board" });
  buttons.append(save, " ", pinHere, " ", unpin);
  const status = Object.assign(document.createElement("p"), { className: "tx-status", id: "settings-checks-status" });
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  form.append(address.p, chain.p, gateway.p, buttons, status);
  section.append(heading, intro, form);
  const fill = () => {
    const pinned = pinnedBoard();
    address.input.value = pinned ? pinned.address : "";
    chain.input.value = pinned ? pinned.chainId : "";
    gateway.input.value = readerGateway();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const url = gateway.input.value.trim();
    if (url && !/^https?:\/\//i.test(url)) return say(status, "A gateway is an http or https address.");
    if (url) localStorage.setItem(GATEWAY_ITEM, url);
    else localStorage.removeItem(GATEWAY_ITEM);
    const board = address.input.value.trim();
    const chainId = chain.input.value.trim();
    if (!board && !chainId) {
      localStorage.removeItem(BOARD_ITEM);
      return say(status, "Saved: no Board pinned.");
    }
    let checksum;
    try {
      checksum = getAddress(board);
    } catch {
      return say(status, "Not an address: 0x followed by 40 hex digits, with a valid checksum if mixed-case.");
    }
    if (!/^[1-9]\d{0,18}$/.test(chainId)) return say(status, "A chain id is a positive whole number.");
    localStorage.setItem(BOARD_ITEM, JSON.stringify({ address: checksum, chainId }));
    fill();
    say(status, `Saved: pinned Board ${checksum} on chain ${chainId}.`);
  });
  pinHere.addEventListener("click", async () => {
    try {
      const response = await fetch("/api/contract");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const contract = await response.json();
      address.input.value = getAddress(String(contract.address));
      chain.input.value = String(Number(contract.chain_id));
      say(status, "Filled in with what this node says; check it against a source you trust, then save.");
    } catch (error) {
      say(status, `This node did not say (${error.message}).`);
    }
  });
  unpin.addEventListener("click", () => {
    localStorage.removeItem(BOARD_ITEM);
    fill();
    say(status, "No Board pinned.");
  });
  fill();
  return section;
}

/** Wire the settings page, when this is it. */
export function initSettingsPage() {
  const form = document.getElementById("settings-form");
  if (!(form instanceof HTMLFormElement)) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const lens = new FormData(form).get("lens");
    const fold = /** @type {HTMLInputElement} */ (document.getElementById("settings-fold")).value.trim();
    const settings = saveReaderSettings({
      ...readerSettings(),
      lens: typeof lens === "string" ? lens : "default",
      fold: fold === "" ? null : Number(fold),
    });
    say(document.getElementById("settings-status"), `Saved: lens ${settings.lens}.`);
  });
  for (const section of document.querySelectorAll("[data-address-list]")) {
    const addForm = section.querySelector("form[data-add-address]");
    if (!(section instanceof HTMLElement) || !(addForm instanceof HTMLFormElement)) continue;
    const name = section.dataset.addressList === "trust" ? "trust" : "mute";
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      add(addForm, name);
    });
  }
  document.getElementById("settings-export")?.addEventListener("click", exportSettings);
  const input = document.getElementById("settings-import");
  if (input instanceof HTMLInputElement) input.addEventListener("change", () => importSettings(input));
  initSources();
  document.getElementById("main")?.append(checksSection());
  show();
}
