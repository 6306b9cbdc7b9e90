/*
 * The endpoint lifecycle on a real kernel, with the real plugin in a test namespace: a bridge
 * deleted under running pods (finding 1), a container stopped while podnet was down (finding 3),
 * and kill -9 at every named crash point of every call (src/util/crash-point.ts), each followed
 * by what Docker does next, then the invariants checked on the store and the kernel.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { callOk, callPlugin, hexId } from '../support/plugin-client';
import { NetnsPlugin, TestNetns } from '../support/netns-plugin';
import { waitFor } from '../harness/exec';
import { CRASH_POINTS } from '../../src/util/crash-point';

const isRoot = process.getuid?.() === 0;
const P = `pnlc${process.pid % 10000}`;
const POOL = 'podnet-10.244.0.0/16';

describe('endpoint lifecycle on a real kernel', { skip: isRoot ? false : 'needs root' }, () => {
  let node: TestNetns;
  let plugin: NetnsPlugin;
  const pods: TestNetns[] = [];
  let net = hexId('lc-net-0');
  const sock = (): string => plugin.socket;

  async function createNetwork(id: string): Promise<void> {
    await callOk(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: null, V6: false });
    await callOk(sock(), 'NetworkDriver.CreateNetwork', {
      NetworkID: id, Options: {}, IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16' }], IPv6Data: [],
    });
  }

  before(async () => {
    node = await TestNetns.create(`${P}-node`);
    plugin = new NetnsPlugin(node, { PODNET_ADDRESS_GRACE_SECONDS: '1', PODNET_MTU: '1400' });
    await plugin.start();
    await createNetwork(net);
  });

  after(async () => {
    for (const p of pods) await p.destroy();
    await plugin?.destroy();
    await node?.destroy();
  });

  /** Docker's run sequence, then what Docker does with the interface: into a namespace, as eth0. */
  async function startPod(tag: string, ports: object[] = []): Promise<{ ns: TestNetns; ep: string; ip: string; peer: string }> {
    const ep = hexId(tag);
    const addr = String((await callOk(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '' }))['Address']);
    await callOk(sock(), 'NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: addr } });
    const ns = await TestNetns.create(`${P}-${tag}`);
    pods.push(ns);
    const j = (await callOk(sock(), 'NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: `/run/netns/${ns.name}` })) as { InterfaceName: { SrcName: string } };
    const peer = j.InterfaceName.SrcName;
    await node.ip(['link', 'set', peer, 'netns', ns.name]);
    await ns.ip(['link', 'set', peer, 'name', 'eth0']);
    await ns.ip(['addr', 'add', addr, 'dev', 'eth0']);
    await ns.ip(['link', 'set', 'eth0', 'up']);
    if (ports.length > 0) await callOk(sock(), 'NetworkDriver.ProgramExternalConnectivity', { NetworkID: net, EndpointID: ep, Options: { 'com.docker.network.portmap': ports } });
    return { ns, ep, ip: addr.split('/')[0] as string, peer };
  }

  const pings = async (from: TestNetns, to: string): Promise<boolean> =>
    (await from.exec(['ping', '-c1', '-W1', to], { allowFail: true })).code === 0;

  async function links(): Promise<string[]> {
    return (await node.ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname).filter((n) => /^p[nt][0-9a-f]{12}$/.test(n)).sort();
  }

  /** Reads the plugin's store (WAL: a reader does not disturb the plugin). */
  function rows<T>(sql: string): T[] {
    const db = new Database(join(plugin.stateDir, 'podnet.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  }

  test('finding 1: kbr0 deleted by hand under running pods: the next reconcile puts them back, nothing is deleted', async () => {
    const a = await startPod('lc-a');
    const b = await startPod('lc-b');
    assert.ok(await pings(a.ns, b.ip));
    await node.ip(['link', 'del', 'kbr0']);
    assert.equal(await pings(a.ns, b.ip), false, 'the bridge is gone');
    process.kill(plugin.pid as number, 'SIGHUP');
    await waitFor(() => pings(a.ns, b.ip), 10_000, 'pods reach each other again');
    const eps = rows<{ endpoint_id: string; state: string }>('SELECT endpoint_id, state FROM endpoints');
    assert.deepEqual(eps.map((e) => e.endpoint_id).sort(), [a.ep, b.ep].sort());
    const ports = (await node.ipJson<{ ifname: string }>(['link', 'show', 'master', 'kbr0'])).map((l) => l.ifname);
    assert.ok(ports.includes(`pn${a.ep.slice(0, 12)}`) && ports.includes(`pn${b.ep.slice(0, 12)}`));
  });

  test('finding 3: a container stopped while podnet was down: its endpoint, veth and host port go; the port can be published again', async () => {
    const port = [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 18080, HostPortEnd: 18080 }];
    const c = await startPod('lc-c', port);
    await plugin.stop('SIGKILL');
    // libnetwork destroying the sandbox while the plugin is away: eth0 back to the host, renamed.
    await c.ns.ip(['link', 'set', 'eth0', 'netns', node.name]);
    await node.ip(['link', 'set', 'eth0', 'name', c.peer]);
    await plugin.start();
    // Judged dead once its peer has been in the host namespace for SETTLE_MS (10 s): SIGHUP asks
    // for a pass now rather than at the 30 s timer.
    await waitFor(async () => {
      process.kill(plugin.pid as number, 'SIGHUP');
      return !(await links()).includes(`pn${c.ep.slice(0, 12)}`);
    }, 20_000, 'the dead endpoint\'s pair deleted');
    assert.equal(rows('SELECT * FROM hostports').length, 0);
    assert.equal(rows(`SELECT * FROM endpoints WHERE endpoint_id = '${c.ep}'`).length, 0);
    const q = rows<{ quarantined_at: number | null }>(`SELECT quarantined_at FROM addresses WHERE address = ${ipNum(c.ip)}`);
    assert.ok(q.length === 0 || q[0]?.quarantined_at !== null, 'its address is quarantined or already free');
    const d = await startPod('lc-d', port);
    assert.ok(d.ep);
  });

  test('kill -9 at every crash point, then Docker\'s next calls: invariants hold and teardown is clean', async () => {
    const netPoints = CRASH_POINTS.filter((p) => p.startsWith('create-network'));
    // Network points: no network may exist, so the current one goes first.
    for (const ep of rows<{ endpoint_id: string }>('SELECT endpoint_id FROM endpoints')) {
      await callOk(sock(), 'NetworkDriver.Leave', { NetworkID: net, EndpointID: ep.endpoint_id });
      await callOk(sock(), 'NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: ep.endpoint_id });
    }
    await callOk(sock(), 'NetworkDriver.DeleteNetwork', { NetworkID: net });
    await callOk(sock(), 'IpamDriver.ReleasePool', { PoolID: POOL });
    for (const [i, point] of netPoints.entries()) {
      await plugin.stop('SIGKILL');
      await plugin.start({ PODNETTEST_CRASH_AT: point });
      const id = hexId(`lc-crash-net-${i}`);
      await callOk(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: null, V6: false });
      const r = await callPlugin(sock(), 'NetworkDriver.CreateNetwork', {
        NetworkID: id, Options: {}, IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16' }], IPv6Data: [],
      }).catch((e: unknown) => e);
      assert.ok(r instanceof Error, `${point}: the plugin died in CreateNetwork`);
      await plugin.stop('SIGKILL');
      await plugin.start();
      await callOk(sock(), 'IpamDriver.ReleasePool', { PoolID: POOL }); // Docker's roll-back
      assert.deepEqual(rows('SELECT * FROM networks'), [], `${point}: no network left`);
    }
    net = hexId('lc-net-1');
    await createNetwork(net);

    const epPoints = CRASH_POINTS.filter((p) => !p.startsWith('create-network'));
    for (const [i, point] of epPoints.entries()) {
      await plugin.stop('SIGKILL');
      await plugin.start({ PODNETTEST_CRASH_AT: point });
      const ep = hexId(`lc-crash-${i}`);
      let addr = '';
      const steps: [string, () => object][] = [
        ['IpamDriver.RequestAddress', () => ({ PoolID: POOL, Address: '' })],
        ['NetworkDriver.CreateEndpoint', () => ({ NetworkID: net, EndpointID: ep, Interface: { Address: addr } })],
        ['NetworkDriver.Join', () => ({ NetworkID: net, EndpointID: ep, SandboxKey: '' })],
        ['NetworkDriver.Leave', () => ({ NetworkID: net, EndpointID: ep })],
        ['NetworkDriver.DeleteEndpoint', () => ({ NetworkID: net, EndpointID: ep })],
        ['IpamDriver.ReleaseAddress', () => ({ PoolID: POOL, Address: addr.split('/')[0] })],
      ];
      let died = -1;
      for (const [s, [call, body]] of steps.entries()) {
        const r = await callPlugin(sock(), call, body()).catch((e: unknown) => e);
        if (r instanceof Error) {
          died = s;
          break;
        }
        if (call === 'IpamDriver.RequestAddress') addr = String((r as { body: Record<string, unknown> }).body['Address'] ?? '');
      }
      assert.ok(died >= 0, `${point}: the plugin died`);
      await plugin.stop('SIGKILL');
      await plugin.start();
      // What Docker does after a failed call: roll back or carry on with the teardown. Every
      // teardown call answers, whatever state the crash left.
      for (const [call, body] of steps.slice(Math.max(3, died))) {
        if (call === 'IpamDriver.ReleaseAddress' && addr === '') continue;
        await callOk(sock(), call, body());
      }
      if (died < 3 && addr !== '') await callOk(sock(), 'IpamDriver.ReleaseAddress', { PoolID: POOL, Address: addr.split('/')[0] });
      const eps = rows<{ endpoint_id: string; address: number }>('SELECT endpoint_id, address FROM endpoints');
      assert.equal(new Set(eps.map((e) => e.address)).size, eps.length, `${point}: no two endpoints share an address`);
      assert.ok(!eps.some((e) => e.endpoint_id === ep), `${point}: the endpoint is gone after Docker's teardown`);
      const bound = rows<{ endpoint_id: string }>('SELECT endpoint_id FROM addresses WHERE endpoint_id IS NOT NULL');
      for (const b of bound) assert.ok(eps.some((e) => e.endpoint_id === b.endpoint_id), `${point}: every bound address has a live owner`);
      await waitFor(async () => !(await links()).some((l) => l.endsWith(ep.slice(0, 12))), 5000, `${point}: no link of the endpoint left`);
    }
  });
});

function ipNum(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
