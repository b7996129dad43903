// @ts-check
// The later module: what the reader needs only once a view is shown or an action is asked, the proofs
// (reader/src/prove.js over the node's proof.js and @ethereumjs) and the sending of posts and votes
// (reader/src/send.js over ethers' Contract, Wallet and BrowserProvider). reader/build.py puts its text in the page
// inert (a <script type="text/plain">) and allows it by its sha256 in the page's policy; reader/src/loader.js runs it
// as an inline module when it is first needed, and it hands over its functions in an event.

import { proveShown } from "./prove.js";
import { submit, vote } from "./send.js";

/** @typedef {{proveShown: typeof proveShown, submit: typeof submit, vote: typeof vote}} Later */

/** @type {Later} */
const exported = { proveShown, submit, vote };
dispatchEvent(new CustomEvent("indelible-reader-later", { detail: exported }));
