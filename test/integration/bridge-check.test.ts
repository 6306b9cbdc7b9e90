/*
 * PODNET_BRIDGE against the kernel, in throwaway namespaces: a name taken by a link that is not
 * a bridge is refused (podnet put its gateway and route_localnet on a veth before), and `podnet
 * cleanup` deletes a bridge only when podnet created it (it deleted an administrator's before).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNetns } from '../support/netns-plugin';
import { Store } from '../../src/store/store';

const isRoot = process.getuid?.() === 0;

/**
 * A link that is not a bridge: a dummy, or where the kernel has no dummy driver (this lab's has
 * none) a veth, the kind that took the gateway before. Returns the kind made.
 */
async function addNonBridge(ns: TestNetns, name: string): Promise<'dummy' | 'veth'> {
  try {
    await ns.ip(['link', 'add', name, 'type', 'dummy']);
    return 'dummy';
  } catch (err) {
    if (!/Unknown device type/.test(String(err))) throw err;
    await ns.ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}x`]);
    return 'veth';
  }
}
const REPO = join(__dirname, '..', '..', '..');
const CHECK = join(__dirname, '..', '..', 'src', 'dataplane', 'bridge-check.js');

// Runs in the namespace: checkBridge on each name given, printing what each did.
const SCRIPT = `
const { checkBridge } = require(${JSON.stringify(CHECK)});
(async () => {
  const out = {};
  for (const name of process.argv.slice(1)) {
    out[name] = await checkBridge(name).then(() => 'ok', (e) => ({ name: e.constructor.name, code: e.code, message: e.message }));
  }
  console.log(JSON.stringify(out));
})();
`;

describe('PODNET_BRIDGE must be a bridge (kernel)', { skip: isRoot ? false : 'needs root' }, () => {
  let ns: TestNetns;
  let kind: string;
  before(async () => {
    ns = await TestNetns.create('pnbrchk');
    kind = await addNonBridge(ns, 'pnchkdum');
    await ns.ip(['link', 'add', 'pnchkv', 'type', 'veth', 'peer', 'name', 'pnchkp']);
    await ns.ip(['link', 'add', 'pnchkbr', 'type', 'bridge']);
  });
  after(async () => {
    await ns?.destroy();
  });

  test('checkBridge refuses a dummy or a veth named as the bridge, naming its kind and what to do; a bridge or a free name is fine', async () => {
    const r = await ns.exec([process.execPath, '-e', SCRIPT, 'pnchkdum', 'pnchkv', 'pnchkbr', 'pnchkfree']);
    const out = JSON.parse(r.stdout) as Record<string, 'ok' | { name: string; code: string; message: string }>;
    const dummy = out['pnchkdum'];
    assert.ok(dummy !== 'ok' && dummy !== undefined, `a ${kind} is refused`);
    assert.equal(dummy.name, 'SettingsError');
    assert.equal(dummy.code, 'PODNET_ERR_SETTINGS');
    assert.match(dummy.message, new RegExp(`^PODNET_BRIDGE=pnchkdum names a ${kind} device, not a Linux bridge`));
    assert.match(dummy.message, /set PODNET_BRIDGE to an existing bridge or to a free name/);
    const veth = out['pnchkv'];
    assert.ok(veth !== 'ok' && veth !== undefined && /names a veth device/.test(veth.message), JSON.stringify(veth));
    assert.equal(out['pnchkbr'], 'ok');
    assert.equal(out['pnchkfree'], 'ok', 'no such link: podnet creates the bridge');
  });
});

describe('podnet cleanup deletes only a bridge podnet created (kernel)', { skip: isRoot ? false : 'needs root' }, () => {
  let ns: TestNetns;
  let dir: string;
  before(async () => {
    ns = await TestNetns.create('pnbrclean');
    dir = mkdtempSync(join(tmpdir(), 'podnet-it-clean-'));
  });
  after(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  function cleanup(bridge: string, stateDir: string): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, join(REPO, 'bin', 'podnet.js'), 'cleanup'], {
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', PODNET_BRIDGE: bridge, PODNET_STATE_DIR: stateDir, PODNET_SOCKET: join(stateDir, 'podnet.sock') },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const exists = async (name: string): Promise<boolean> => (await ns.ipJson(['link', 'show', 'dev', name])).length === 1;

  test("an administrator's bridge survives cleanup (podnet's veths on it do not)", async () => {
    await ns.ip(['link', 'add', 'pnadmbr', 'type', 'bridge']);
    await ns.ip(['addr', 'add', '192.168.77.1/24', 'dev', 'pnadmbr']);
    await ns.ip(['link', 'add', 'pn0123456789ab', 'master', 'pnadmbr', 'type', 'veth', 'peer', 'name', 'pt0123456789ab']);
    const r = cleanup('pnadmbr', join(dir, 'admin'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(await exists('pnadmbr'), `the bridge is kept: ${r.stdout}`);
    assert.match(r.stdout, /kept pnadmbr: podnet did not create it/);
    assert.match(await ns.ip(['-4', 'addr', 'show', 'dev', 'pnadmbr']), /192\.168\.77\.1\/24/, 'with its address');
    assert.equal(await exists('pn0123456789ab'), false, "podnet's veth is removed");
  });

  test('a dummy named as the bridge survives cleanup; cleanup says why', async () => {
    const kind = await addNonBridge(ns, 'pnadmdum');
    // Even with a record that podnet made "the bridge": a link that is not a bridge is not its.
    const stateDir = join(dir, 'dummy');
    const store = Store.open(stateDir);
    store.setMeta('created_bridge', '1');
    store.close();
    const r = cleanup('pnadmdum', stateDir);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(await exists('pnadmdum'), r.stdout);
    assert.match(r.stdout, new RegExp(`PODNET_BRIDGE=pnadmdum names a ${kind} device`));
  });

  test('a bridge podnet created (the store says so) is deleted', async () => {
    const stateDir = join(dir, 'ours');
    const store = Store.open(stateDir);
    store.setMeta('created_bridge', '1');
    store.close();
    await ns.ip(['link', 'add', 'pnourbr', 'type', 'bridge']);
    const r = cleanup('pnourbr', stateDir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await exists('pnourbr'), false, r.stdout);
  });
});
