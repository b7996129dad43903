// @ts-check
// Starts the vendored ReDoc on this origin's /openapi.json (kept out of the page: the CSP allows no inline script).
"use strict";
// a block: both start-up scripts are classic scripts, whose top-level names would share one scope
{
  const root = document.getElementById("redoc");
  // ReDoc's styled-components insert <style> elements; the page's CSP admits those carrying this request's nonce
  Redoc.init(root.dataset.specUrl, { nonce: root.dataset.styleNonce }, root);
}
