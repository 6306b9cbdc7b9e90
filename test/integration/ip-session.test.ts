/*
 * podnet's long-lived `ip -batch` session against the kernel, in a throwaway namespace: a link
 * deleted and made again by another program is found by name afterwards (ip's name cache goes
 * stale; the session notices and retries in a new ip).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TestNetns } from '../support/netns-plugin';

const SESSION = join(__dirname, '..', '..', 'src', 'dataplane', 'ip-session.js');

// Runs in the namespace: makes a bridge and a port on it through the session (ip then remembers
// the bridge's index), lets another `ip` delete both, makes the bridge again through the same
// session; prints the failures of each request and the session's ip pids.
const SCRIPT = `
const { IpSession } = require(${JSON.stringify(SESSION)});
const { execFileSync } = require('node:child_process');
(async () => {
  const s = new IpSession();
  const bridge = ['link add pnsess0 type bridge', 'addr replace 10.99.0.1/24 dev pnsess0', 'link set pnsess0 up'];
  const out = { rounds: [], pids: [] };
  out.rounds.push(await s.exec(bridge));
  out.rounds.push(await s.exec(['link add pnsessv mtu 1450 master pnsess0 up type veth peer name ptsessv', 'link set pnsessv type bridge_slave hairpin on']));
  out.pids.push(s.pid);
  execFileSync('ip', ['link', 'del', 'pnsessv']);
  execFileSync('ip', ['link', 'del', 'pnsess0']);
  out.rounds.push(await s.exec(bridge));
  out.pids.push(s.pid);
  out.rounds.push(await s.exec(['link del pnsess0', 'link del pnsess0']));
  s.close();
  console.log(JSON.stringify(out));
})();
`;

describe('ip session (kernel)', () => {
  let ns: TestNetns;
  before(async () => {
    ns = await TestNetns.create('pnsess');
  });
  after(async () => {
    await ns?.destroy();
  });

  test('a link another program deleted and made again is found by name: the refused lines run again in a new ip', async () => {
    const r = await ns.exec([process.execPath, '-e', SCRIPT]);
    const out = JSON.parse(r.stdout) as { rounds: { line: string; message: string }[][]; pids: number[] };
    assert.deepEqual(out.rounds[0], [], 'the bridge');
    assert.deepEqual(out.rounds[1], [], 'a port on it');
    assert.deepEqual(out.rounds[2], [], 'the bridge made again after another program deleted it');
    assert.notEqual(out.pids[1], out.pids[0], 'the ip that remembered the old bridge was replaced');
    const addr = await ns.ip(['-4', 'addr', 'show', 'dev', 'pnsess0']).catch(() => '');
    assert.equal(addr, '', 'deleted at the end');
    assert.deepEqual(out.rounds[3]?.map((f) => f.line), ['link del pnsess0'], 'the second delete is refused');
    assert.match(out.rounds[3]?.[0]?.message ?? '', /Cannot find device "pnsess0"/);
  });
});
