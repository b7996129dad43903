// ESLint flat config (make check): the browser modules, their two classic start-up scripts, and the Node scripts.
// Types are tsc's job (tsconfig.json); this catches mistakes tsc does not: unused names, == and the like.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["backend/static/vendor/**", "dist/**", "node_modules/**", "build/**", "data/**", "reports/**", ".venv*/**"] },
  js.configs.recommended,
  {
    files: ["backend/static/js/**/*.js", "reader/src/**/*.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: { ...globals.browser } },
    rules: {
      eqeqeq: "error",
      "no-var": "error",
      "prefer-const": "error",
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // classic scripts that start the vendored API docs (their libraries are globals loaded just before them)
    files: ["backend/static/js/*-init.js"],
    languageOptions: {
      sourceType: "script",
      globals: { ...globals.browser, SwaggerUIBundle: "readonly", Redoc: "readonly" },
    },
  },
  {
    // the reader's bundler (reader/build.py runs it): an ES module for Node
    files: ["reader/bundle.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
  },
  {
    files: ["scripts/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "commonjs", globals: { ...globals.node } },
  },
];
