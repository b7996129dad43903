// The key page: show, make, export and import the browser key; pick wallet or key.

import { browserKey, exportKey, hasInjectedWallet, importKey, setSignerMode, signerMode } from "./signer.js";

export function initKeyPage(onChange) {
  const addressBox = document.getElementById("key-address");
  if (!addressBox) return;
  const create = document.getElementById("key-create");
  const exportButton = document.getElementById("key-export");
  const exported = document.getElementById("key-exported");
  const importForm = document.getElementById("key-import-form");
  const choice = document.getElementById("signer-choice");

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
    exported.closest(".field").hidden = false;
    exported.focus();
    exported.select();
  });
  importForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const status = importForm.querySelector(".tx-status");
    try {
      const address = importKey(importForm.elements.key.value);
      status.dataset.state = "confirmed";
      status.textContent = `Imported: this browser now signs as ${address}.`;
      importForm.reset();
      exported.closest(".field").hidden = true;
      show();
    } catch (error) {
      status.dataset.state = "error";
      status.textContent = `Not imported: ${error.shortMessage || error.message}`;
    }
  });
  show();
}
