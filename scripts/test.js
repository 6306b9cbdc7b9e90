#!/usr/bin/env node
'use strict';
// `npm test [-- tier...]`: runs the compiled test tiers (unit, integration, e2e) with node's test
// runner, one file at a time: integration and e2e tests share the kernel.
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const tiers = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

const list = [];
for (const tier of tiers) {
  const found = files(join(root, 'dist', 'test', tier)).sort();
  if (found.length === 0) {
    console.error(`podnet: no ${tier} tests found under dist/test/${tier}`);
    process.exit(1);
  }
  list.push(...found);
}
// One run, so the closing summary counts every test.
const r = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-reporter=spec', '--test-concurrency=1', ...list],
  { cwd: root, stdio: 'inherit' },
);
process.exit(r.status === null ? 1 : r.status);
