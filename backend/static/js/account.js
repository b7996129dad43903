// @ts-check
// Who the reader is: the header's "Signed in as" line.

import { shortAddress } from "./format.js";
import { currentAddress } from "./signer.js";

/** Show the reader's address in the header (hidden when there is none yet); resolves to it, or null. */
export async function showAccount() {
  const address = await currentAddress();
  const box = document.getElementById("account");
  const link = document.getElementById("account-link");
  if (!box || !(link instanceof HTMLAnchorElement)) return address;
  if (address) {
    link.textContent = shortAddress(address);
    link.title = address;
    link.href = `/authors/${address}`;
    link.dataset.address = address;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
  return address;
}
