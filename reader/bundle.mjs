// The reader's JavaScript bundle (reader/build.py runs this and inlines what it prints): esbuild, pinned in
// package.json. The node's modules import their libraries as /static/vendor/*.js (what the node serves);
// here those names resolve to the same packages in node_modules (ethers as its ES modules, so that esbuild
// leaves out what the reader never calls: the default providers and their hosts).
import { build } from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const VENDOR = {
  "/static/vendor/ethers.min.js": "node_modules/ethers/lib.esm/index.js",
  "/static/vendor/markdown-it.esm.js": "node_modules/markdown-it/index.mjs",
  // static/js/proof.js's Merkle-Patricia and header library, from the entry make vendor bundles for the node
  "/static/vendor/ethereumjs.js": "scripts/vendor/ethereumjs.mjs",
};

const vendored = {
  name: "vendored",
  setup(context) {
    context.onResolve({ filter: /^\/static\/vendor\// }, (args) => {
      const file = VENDOR[args.path];
      if (!file) return { errors: [{ text: `no vendored library for ${args.path}` }] };
      return { path: path.join(root, file) };
    });
    // the node's modules the reader imports (preview, postdoc, markdown, proof, signer) only define things at
    // their top level: one none of whose exports a bundle uses is left out of it, with its imports (the later
    // module uses content.js's hashing but not its content rule, so postdoc.js and markdown-it stay out of it)
    context.onResolve({ filter: /\/backend\/static\/js\/[a-z]+\.js$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path),
      sideEffects: false,
    }));
  },
};

// ``node reader/bundle.mjs``: the module (reader/src/main.js and what it imports); ``node reader/bundle.mjs early``:
// the small script at the top of the page that sends the first reads while the module loads (reader/src/early.js);
// ``node reader/bundle.mjs later``: the later module, the proofs and the sending of posts and votes
// (reader/src/later.js), run once the first view is shown or an action is asked (reader/src/loader.js). The module
// and the later one are built apart (each with its own copy of what both use, the little they share).
const ENTRIES = { main: "reader/src/main.js", early: "reader/src/early.js", later: "reader/src/later.js" };
const which = process.argv[2] || "main";
if (!(which in ENTRIES)) throw new Error(`no such part of the reader: ${which}`);
const early = which === "early";
const result = await build({
  entryPoints: [path.join(root, ENTRIES[which])],
  bundle: true,
  format: early ? "iife" : "esm",
  target: "es2022",
  minify: true,
  legalComments: "inline",
  charset: "utf8",
  write: false,
  absWorkingDir: root,
  plugins: [vendored],
  logLevel: "warning",
});
process.stdout.write(result.outputFiles[0].text);
