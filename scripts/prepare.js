#!/usr/bin/env node
'use strict';
// Run before `npm start` and `npm test` on a fresh clone: install dependencies when missing or
// stale, then compile the TypeScript. Fast when nothing changed (tsc is incremental).
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const installed = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

function step(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`podnet: "${cmd} ${args.join(' ')}" failed (exit ${r.status ?? r.signal}); fix the error above and run again`);
    process.exit(r.status || 1);
  }
}

if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.error('podnet: installing dependencies (npm ci; better-sqlite3 compiles from source, about a minute)');
  step('npm', ['ci', '--no-audit', '--no-fund']);
}
step(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')]);
