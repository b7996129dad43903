// @ts-check
// Starts the vendored Swagger UI on this origin's /openapi.json (kept out of the page: the CSP allows no inline script).
"use strict";
// a block: both start-up scripts are classic scripts, whose top-level names would share one scope
{
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // the default validator badge is an image from validator.swagger.io: no third-party requests
    validatorUrl: null,
  });
}
