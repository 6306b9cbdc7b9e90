/*
 * The veth reaper against the kernel, in a throwaway namespace: a burst of 300 stopped
 * containers' veths on a bridge is gone within 2 s (deleted one at a time it took ~5 s here).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TestNetns } from '../support/netns-plugin';

const DIST = join(__dirname, '..', '..', 'src', 'dataplane');
const COUNT = 300;

// Runs in the namespace: a bridge with COUNT veth pairs on it, then every pair scheduled the way
// Leave does (host and peer name, one endpoint at a time); prints how long the drain took.
const SCRIPT = `
const { VethReaper } = require(${JSON.stringify(join(DIST, 'veth-reaper.js'))});
const { LinkDeleter } = require(${JSON.stringify(join(DIST, 'link-deleter.js'))});
const { execFileSync } = require('node:child_process');
const lines = ['link add pnrb0 type bridge', 'link set pnrb0 up'];
for (let i = 0; i < ${COUNT}; i++) lines.push('link add pnr' + i + ' master pnrb0 up type veth peer name ptr' + i);
execFileSync('ip', ['-batch', '-'], { input: lines.join('\\n') + '\\n' });
const before = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'master', 'pnrb0'], { encoding: 'utf8' })).length;
(async () => {
  const deleter = new LinkDeleter();
  const reaper = new VethReaper((names) => deleter.remove(names));
  const started = Date.now();
  for (let i = 0; i < ${COUNT}; i++) reaper.schedule(['pnr' + i, 'ptr' + i]);
  const backlog = reaper.backlog;
  await reaper.drain();
  const ms = Date.now() - started;
  deleter.close();
  const left = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }) || '[]').length;
  console.log(JSON.stringify({ before, backlog, ms, left, after: reaper.backlog }));
})();
`;

describe('veth reaper (kernel)', () => {
  let ns: TestNetns;
  before(async () => {
    ns = await TestNetns.create('pnreap');
  });
  after(async () => {
    await ns?.destroy();
  });

  test(`${COUNT} veths on a bridge, scheduled at once, are deleted within 2 s`, async () => {
    const r = await ns.exec([process.execPath, '-e', SCRIPT], { timeoutMs: 30_000 });
    const out = JSON.parse(r.stdout) as { before: number; backlog: number; ms: number; left: number; after: number };
    assert.equal(out.before, COUNT, 'the veths were on the bridge');
    assert.equal(out.backlog, 2 * COUNT, 'backlog: every scheduled name');
    assert.equal(out.left, 0, 'no veth left');
    assert.equal(out.after, 0);
    assert.ok(out.ms < 2000, `drained in ${out.ms} ms`);
    console.log(`# ${COUNT} veths drained in ${out.ms} ms`);
  });
});
