#!/usr/bin/env node
// A native-solc stand-in for py-solc-x and brownie, backed by solc-js from npm.
// py-solc-x calls `<exe> --version` and `<exe> --standard-json [--allow-paths DIR]`
// and expects only JSON on stdout, which the `solcjs` CLI does not guarantee.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\n');
  process.stdout.write(`Version: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc_bridge: only --version and --standard-json are supported\n');
  process.exit(2);
}
const allowIndex = args.indexOf('--allow-paths');
const allowed = allowIndex >= 0 ? args[allowIndex + 1].split(',').map((p) => path.resolve(p)) : [];

// Resolve imports from the working directory and any --allow-paths root.
function findImports(importPath) {
  const roots = [process.cwd(), ...allowed];
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, 'utf8') };
    }
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
