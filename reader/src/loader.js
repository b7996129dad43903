// @ts-check
// Loads the later module (reader/src/later.js: the proofs and the sending of posts and votes) when it is first
// needed: its text sits inert in the page (``<script type="text/plain" id="later">``, written by reader/build.py),
// and is run as an inline module, which the page's policy allows by its sha256 as it allows the first module. The
// first view is shown without it: about two thirds of the file's JavaScript are never parsed before it.

/** @type {Promise<import("./later.js").Later> | null} */
let loading = null;

/** The later module's functions, once it has run (loaded on the first call). */
export function later() {
  loading ??= new Promise((resolve, reject) => {
    const source = document.getElementById("later");
    if (!source?.textContent) {
      reject(new Error("this file holds no later module (the proofs and writing): it was not built by make reader"));
      return;
    }
    const failed = (/** @type {string} */ why) => reject(new Error(`the reader's later module (the proofs and writing) did not run: ${why}`));
    const refused = (/** @type {SecurityPolicyViolationEvent} */ event) => {
      if (event.effectiveDirective.startsWith("script-src")) failed(`the page's policy refused it (${event.effectiveDirective})`);
    };
    document.addEventListener("securitypolicyviolation", refused);
    addEventListener(
      "indelible-reader-later",
      (event) => {
        document.removeEventListener("securitypolicyviolation", refused);
        resolve(/** @type {CustomEvent} */ (event).detail);
      },
      { once: true },
    );
    const script = document.createElement("script");
    script.type = "module";
    script.textContent = source.textContent;
    document.body.append(script);
  });
  return loading;
}
