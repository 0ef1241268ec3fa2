#!/usr/bin/env node
// `npm run runtime`: says which Node.js runs the project's scripts, and fails unless it is the one
// package.json pins (devDependencies.node). npm puts node_modules/.bin first on every script's PATH,
// so `node` there is the pinned runtime whatever Node ran npm itself; if the `node` package's install
// script did not run (e.g. `npm ci --ignore-scripts`), the machine's own Node would answer instead.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies.node;
if (process.version !== `v${pinned}`) {
  console.error(
    `Node.js ${process.version} (${process.execPath}) runs the scripts, but package.json pins node ${pinned}: ` +
      'run `npm ci` (with install scripts enabled) so that node_modules/.bin/node is the pinned runtime.',
  );
  process.exit(1);
}
console.log(`Node.js ${process.version} (${process.execPath}), pinned by package.json devDependencies.node`);
