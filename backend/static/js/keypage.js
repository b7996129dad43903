// @ts-check
// The key page: show, make, export and import the browser key; pick wallet or key.

import { browserKey, exportKey, hasInjectedWallet, importKey, setSignerMode, signerMode } from "./signer.js";

export function initKeyPage(onChange) {
  const addressBox = document.getElementById("key-address");
  if (!addressBox) return;
  const create = /** @type {HTMLButtonElement} */ (document.getElementById("key-create"));
  const exportButton = /** @type {HTMLButtonElement} */ (document.getElementById("key-export"));
  const exported = /** @type {HTMLInputElement} */ (document.getElementById("key-exported"));
  const importForm = /** @type {HTMLFormElement} */ (document.getElementById("key-import-form"));
  const choice = /** @type {HTMLElement} */ (document.getElementById("signer-choice"));
  const exportedField = /** @type {HTMLElement} */ (exported.closest(".field"));

  const show = () => {
    const key = browserKey({ create: false });
    addressBox.textContent = key ? key.address : "none yet";
    create.hidden = Boolean(key);
    exportButton.disabled = !key;
    onChange();
  };

  if (hasInjectedWallet()) {
    choice.hidden = false;
    for (const radio of choice.querySelectorAll("input[name=signer]")) {
      if (!(radio instanceof HTMLInputElement)) continue;
      radio.checked = radio.value === signerMode();
      radio.addEventListener("change", () => {
        setSignerMode(radio.value);
        onChange();
      });
    }
  }
  create.addEventListener("click", () => {
    browserKey();
    show();
  });
  exportButton.addEventListener("click", () => {
    exported.value = exportKey() || "";
    exportedField.hidden = false;
    exported.focus();
    exported.select();
  });
  importForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const status = /** @type {HTMLElement} */ (importForm.querySelector(".tx-status"));
    const keyField = /** @type {HTMLInputElement | HTMLTextAreaElement} */ (importForm.elements.namedItem("key"));
    try {
      const address = importKey(keyField.value);
      status.dataset.state = "confirmed";
      status.textContent = `Imported: this browser now signs as ${address}.`;
      importForm.reset();
      exportedField.hidden = true;
      show();
    } catch (error) {
      status.dataset.state = "error";
      status.textContent = `Not imported: ${error.shortMessage || error.message}`;
    }
  });
  show();
}
