/*
 * Crash recovery and lifecycle of the real plugin process in a test namespace: a /28 node subnet
 * keeps all its 13 addresses through crashes, lost answers and vanished containers; settings
 * errors stop start-up; `podnet cleanup` leaves nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { callOk, callPlugin, hexId } from '../support/plugin-client';
import { NetnsPlugin, TestNetns } from '../support/netns-plugin';
import { sleep, waitFor } from '../harness/exec';

const isRoot = process.getuid?.() === 0;
const P = `pnrc${process.pid % 10000}`;
const NET = hexId('net-recovery');
const POOL = 'podnet-10.244.0.0/16';
const REPO = join(__dirname, '..', '..', '..');

describe('recovery on a real kernel', { skip: isRoot ? false : 'needs root' }, () => {
  let node: TestNetns;
  let plugin: NetnsPlugin;
  const sock = (): string => plugin.socket;

  before(async () => {
    node = await TestNetns.create(`${P}-node`);
    plugin = new NetnsPlugin(node, { PODNET_NODE_SUBNET: '10.244.1.0/28', PODNET_ADDRESS_GRACE_SECONDS: '1', PODNET_MTU: '1400' });
    await plugin.start();
    await callOk(sock(), 'IpamDriver.RequestPool', { Pool: '10.244.0.0/16', SubPool: '', V6: false });
    await callOk(sock(), 'NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '10.244.0.0/16', Gateway: '10.244.1.1/16' }],
    });
  });

  after(async () => {
    await plugin?.destroy();
    await node?.destroy();
  });

  /** Docker's run sequence up to Join; returns the address and the endpoint ID. */
  async function attach(tag: string): Promise<{ ip: string; ep: string }> {
    const ep = hexId(tag);
    const addr = String((await callOk(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '' }))['Address']);
    await callOk(sock(), 'NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: ep, Interface: { Address: addr } });
    await callOk(sock(), 'NetworkDriver.Join', { NetworkID: NET, EndpointID: ep, SandboxKey: '' });
    return { ip: addr.split('/')[0] as string, ep };
  }

  async function detach(a: { ip: string; ep: string }): Promise<void> {
    await callOk(sock(), 'NetworkDriver.Leave', { NetworkID: NET, EndpointID: a.ep });
    await callOk(sock(), 'NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: a.ep });
    await callOk(sock(), 'IpamDriver.ReleaseAddress', { PoolID: POOL, Address: a.ip });
  }

  async function fill(prefix: string, n: number): Promise<{ ip: string; ep: string }[]> {
    const out: { ip: string; ep: string }[] = [];
    for (let i = 0; i < n; i++) out.push(await attach(`${prefix}-${i}`));
    return out;
  }

  test('the plugin answers on its socket within 2 s of start, with state to reconcile', async () => {
    await plugin.stop('SIGKILL');
    const started = Date.now();
    await plugin.start(); // returns once Plugin.Activate is answered
    assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
  });

  test('PODNET_MTU sets the endpoint MTU', async () => {
    const a = await attach('mtu');
    const link = (await node.ipJson<{ mtu: number }>(['link', 'show', 'dev', `pn${a.ep.slice(0, 12)}`]))[0];
    assert.equal(link?.mtu, 1400);
    await detach(a);
  });

  test('a /28 holds exactly 13 endpoints, then the pool is exhausted with a clear error', async () => {
    const all = await fill('first', 13);
    assert.equal(new Set(all.map((a) => a.ip)).size, 13);
    for (const a of all) assert.ok(!['10.244.1.0', '10.244.1.1', '10.244.1.15'].includes(a.ip), `${a.ip} is usable`);
    const r = await callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '' });
    assert.equal(r.status, 500);
    assert.match(String(r.body['Error']), /no free address left in node subnet 10\.244\.1\.0\/28.*PODNET_NODE_SUBNET/);
    for (const a of all) await detach(a);
  });

  test('after crashes, lost answers and containers that vanished while podnet was down, the /28 still holds 13', async () => {
    const live = await fill('live', 6);
    const doomed = await fill('doomed', 4);
    // Answers Docker never got: addresses handed out with no endpoint.
    for (let i = 0; i < 3; i++) await callOk(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '' });
    assert.equal((await callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '' })).status, 500, 'full');

    await plugin.stop('SIGKILL');
    for (const d of doomed) await node.ip(['link', 'del', `pn${d.ep.slice(0, 12)}`]); // their containers died
    await plugin.start();
    await sleep(1200); // the grace period
    const again = await fill('again', 7);
    const ips = [...live, ...again].map((a) => a.ip);
    assert.equal(new Set(ips).size, 13, `13 distinct addresses in use: ${ips.join(' ')}`);
    // Teardown of the pre-crash endpoints still works.
    for (const a of [...live, ...again]) await detach(a);
    // Leave answers before the kernel has unregistered the veth (tens of ms each): bounded wait.
    await waitFor(async () => (await node.ipJson(['link', 'show', 'master', 'kbr0'])).length === 0, 3000, 'no veth left');
    await plugin.stop('SIGKILL');
    await plugin.start();
    assert.equal((await fill('final', 13)).length, 13, 'all 13 again after one more crash');
  });

  test('podnet cleanup refuses while the plugin runs, then removes every trace', async () => {
    const env = { ...process.env, PODNET_STATE_DIR: plugin.stateDir, PODNET_SOCKET: plugin.socket };
    const cli = (): ReturnType<typeof spawnSync> =>
      spawnSync('ip', ['netns', 'exec', node.name, process.execPath, join(REPO, 'bin', 'podnet.js'), 'cleanup'], { env, encoding: 'utf8' });
    const busy = cli();
    assert.equal(busy.status, 1);
    assert.match(String(busy.stderr), /another podnet is already running/);
    const stopping = Date.now();
    assert.equal(await plugin.stop('SIGTERM'), 0);
    assert.ok(Date.now() - stopping < 5000, 'SIGTERM: exit within 5 s');
    assert.equal((await node.ipJson(['link', 'show', 'dev', 'kbr0'])).length, 1, 'kernel state stays when the plugin stops');
    const done = cli();
    assert.equal(done.status, 0, String(done.stderr));
    assert.equal((await node.ipJson(['link', 'show', 'dev', 'kbr0'])).length, 0);
    assert.doesNotMatch((await node.exec(['iptables-save'])).stdout, /PODNET/);
    assert.equal((await node.ipJson(['link', 'show', 'type', 'veth'])).length, 0);
    await plugin.start();
    const r = await callPlugin(sock(), 'NetworkDriver.Join', { NetworkID: NET, EndpointID: hexId('final-0'), SandboxKey: '' });
    assert.match(String(r.body['Err']), /unknown network/, 'state was forgotten too');
  });

  test('an unknown or invalid setting stops start-up with one line naming it', async () => {
    for (const [k, v, re] of [
      ['PODNET_TUNNELS', 'gre', /unknown setting PODNET_TUNNELS/],
      ['PODNET_TUNNEL', 'ipip', /PODNET_TUNNEL="ipip" is invalid: allowed values are gre, vxlan/],
      ['PODNET_NODE_SUBNET', '10.9.1.0/24', /PODNET_NODE_SUBNET=.* must lie inside the cluster CIDR/],
    ] as const) {
      const r = spawnSync(process.execPath, [join(REPO, 'bin', 'podnet.js'), 'serve'], {
        env: { PATH: process.env['PATH'], PODNET_STATE_DIR: plugin.stateDir, [k]: v },
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(r.status, 1, `${k}=${v}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  });
});
