/**
 * The drivers called directly (no HTTP): failure roll-back, concurrency, and the reconcile loop,
 * over a real Store and the fake dataplane.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { Reconciler, type ReconcileReport } from '../../src/reconcile/runner';
import type { CreateNetworkRequest } from '../../src/driver/protocol';
import { formatIpv4, parseCidr, parseIpv4 } from '../../src/model/cidr';
import type { OverlayState } from '../../src/dataplane/ovs-rules';
import { hexId, makeWorld, type World } from './helpers';
import { portKey } from './fake-dataplane';

const POOL_ID = 'podnet-10.244.0.0/16';
const NET = hexId(1);

async function world(t: TestContext, env: Record<string, string> = {}): Promise<World> {
  const w = await makeWorld(env);
  t.after(() => w.close());
  return w;
}

function netReq(networkId = NET, options: Record<string, unknown> = {}): CreateNetworkRequest {
  return {
    NetworkID: networkId,
    Options: options,
    IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16', AuxAddresses: {} }],
    IPv6Data: [],
  };
}

async function withNetwork(w: World): Promise<void> {
  await w.ipamDriver.requestPool({ AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: {}, V6: false });
  await w.network.createNetwork(netReq());
}

/** RequestAddress -> CreateEndpoint -> Join; returns the pod address. */
async function attach(w: World, endpointId: string): Promise<string> {
  const { Address } = await w.ipamDriver.requestAddress({ PoolID: POOL_ID, Address: '', Options: {} });
  await w.network.createEndpoint({ NetworkID: NET, EndpointID: endpointId, Interface: { Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  await w.network.join({ NetworkID: NET, EndpointID: endpointId, SandboxKey: '', Options: {} });
  return Address;
}

function publish(w: World, endpointId: string, hostPort: number, port = 80): Promise<unknown> {
  return w.network.programExternalConnectivity({
    NetworkID: NET,
    EndpointID: endpointId,
    Options: { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: port, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort }] },
  });
}

describe('driver: failures roll back', () => {
  test('CreateNetwork whose host set-up fails stores no network and says what failed', async (t) => {
    const w = await world(t);
    await w.ipamDriver.requestPool({ AddressSpace: '', Pool: '', SubPool: '', Options: {}, V6: false });
    w.dataplane.failEnsureNode = new Error('RTNETLINK answers: Operation not permitted');
    await assert.rejects(
      w.network.createNetwork(netReq()),
      (err: Error & { code?: string }) =>
        err.code === 'PODNET_ERR_COMMAND_FAILED' && /could not set up kbr0/.test(err.message) && /Operation not permitted/.test(err.message),
    );
    assert.deepEqual(w.store.listNetworks(), []);
    w.dataplane.failEnsureNode = undefined;
    await w.network.createNetwork(netReq());
    assert.equal(w.store.listNetworks().length, 1, 'a retry works');
  });

  test('ProgramExternalConnectivity on an unknown endpoint or network is refused', async (t) => {
    const w = await world(t);
    await withNetwork(w);
    await assert.rejects(publish(w, hexId(50), 8080), /unknown endpoint/);
    await assert.rejects(
      w.network.programExternalConnectivity({ NetworkID: hexId(51), EndpointID: hexId(50), Options: {} }),
      /unknown network .*docker network rm it and create it again/,
    );
  });
});

describe('driver: concurrency', () => {
  test('two containers publishing the same host port at once: one wins, the other gets a Conflict, the winner keeps its port', async (t) => {
    const w = await world(t);
    await withNetwork(w);
    const a = hexId(2);
    const b = hexId(3);
    await attach(w, a);
    await attach(w, b);
    w.dataplane.holdDelayMs = 20; // binding a socket takes an event-loop turn or more
    const portmap = (port: number) => ({ 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: port, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }] });
    const [ra, rb] = await Promise.all([
      request(w.server).post('/NetworkDriver.ProgramExternalConnectivity').send({ NetworkID: NET, EndpointID: a, Options: portmap(80) }),
      request(w.server).post('/NetworkDriver.ProgramExternalConnectivity').send({ NetworkID: NET, EndpointID: b, Options: portmap(81) }),
    ]);
    const statuses = [ra.status, rb.status].sort();
    assert.deepEqual(statuses, [200, 500], `${ra.text} / ${rb.text}`);
    const loser = ra.status === 500 ? ra : rb;
    assert.match(loser.body.Err, /already published by another container/);
    assert.equal(w.store.listHostPorts().length, 1);
    assert.ok(w.dataplane.heldPorts.has(portKey('tcp', '', 8080)), 'the winner\'s port is still held');
    assert.equal(w.dataplane.firewall?.hostPorts.length, 1);
  });

  test('two CreateNetwork calls at once for different networks: only one is stored', async (t) => {
    const w = await world(t);
    await w.ipamDriver.requestPool({ AddressSpace: '', Pool: '', SubPool: '', Options: {}, V6: false });
    const results = await Promise.allSettled([w.network.createNetwork(netReq(hexId(10))), w.network.createNetwork(netReq(hexId(11)))]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.equal(w.store.listNetworks().length, 1);
  });

  test('concurrent endpoints on one network each get their own address, veth and record', async (t) => {
    const w = await world(t);
    await withNetwork(w);
    const ids = Array.from({ length: 10 }, (_, i) => hexId(100 + i));
    const addrs = await Promise.all(ids.map((id) => attach(w, id)));
    assert.equal(new Set(addrs).size, 10);
    assert.equal(w.store.listEndpoints().length, 10);
    assert.equal(w.dataplane.veths.size, 10);
    for (const ep of w.store.listEndpoints()) assert.equal(ep.hostVeth, `pn${ep.endpointId.slice(0, 12)}`);
  });
});

/** One full reconcile pass; a pass that failed is a test failure. */
async function reconcileNow(w: World): Promise<ReconcileReport> {
  const report = await w.reconciler.run();
  assert.ok(report, 'the reconcile pass failed (see stderr)');
  return report;
}

describe('driver: reconcile', () => {
  test('with no network: node plumbing torn down, stale addresses reclaimed', async (t) => {
    const w = await world(t);
    await w.ipamDriver.requestPool({ AddressSpace: '', Pool: '', SubPool: '', Options: {}, V6: false });
    await w.ipamDriver.requestAddress({ PoolID: POOL_ID, Address: '', Options: {} });
    const r1 = await reconcileNow(w);
    assert.deepEqual(r1, { deadEndpoints: 0, reattached: 0, orphanLinks: 0, staleNetworks: 0, reclaimedAddresses: 0, hostPortErrors: [] });
    assert.equal(w.dataplane.callsOf('teardownNode').length, 1);
    assert.equal(w.dataplane.callsOf('ensureNode').length, 0);
    w.clock.t += 60_001;
    const r2 = await reconcileNow(w);
    assert.equal(r2.reclaimedAddresses, 1);
    assert.deepEqual(w.store.listAddresses(), []);
  });

  test('an endpoint whose veth vanished is forgotten, a veth of no endpoint removed, host ports re-held, jumps checked', async (t) => {
    const w = await world(t);
    await withNetwork(w);
    const alive = hexId(2);
    const dead = hexId(3);
    await attach(w, alive);
    const deadAddr = await attach(w, dead);
    await publish(w, alive, 8080);
    await publish(w, dead, 9090);
    // The dead container's veth went with its namespace while podnet was away; a stray veth is left over.
    w.dataplane.veths.delete(`pn${dead.slice(0, 12)}`);
    w.dataplane.veths.set('pn0badc0ffee00', { endpointId: 'x', hostVeth: 'pn0badc0ffee00', peerVeth: 'pt0badc0ffee00', mtu: 1458, mac: '' });
    // A plugin restart forgets the in-process port reservations.
    w.dataplane.close();
    await w.restart();

    const report = await reconcileNow(w);
    assert.deepEqual(report, { deadEndpoints: 1, reattached: 0, orphanLinks: 1, staleNetworks: 0, reclaimedAddresses: 0, hostPortErrors: [] });
    assert.deepEqual(w.store.listEndpoints().map((e) => e.endpointId), [alive]);
    assert.deepEqual(w.store.listHostPorts().map((h) => h.hostPort), [8080]);
    assert.deepEqual([...w.dataplane.veths.keys()], [`pn${alive.slice(0, 12)}`]);
    assert.deepEqual(w.dataplane.callsOf('detachLinks').at(-1)?.args[0], ['pn0badc0ffee00']);
    assert.deepEqual([...w.dataplane.heldPorts], [portKey('tcp', '', 8080)]);
    assert.deepEqual(w.dataplane.callsOf('applyFirewall').at(-1)?.args[1], { checkJumps: true });
    assert.deepEqual(w.dataplane.firewall?.hostPorts.map((h) => h.hostPort), [8080]);
    assert.equal(w.dataplane.nodeUp, true);

    // The dead endpoint's address comes back after the grace period.
    assert.ok(w.store.getAddress(POOL_ID, parseIpv4(deadAddr.split('/')[0] as string)));
    w.clock.t += 60_001;
    const later = await reconcileNow(w);
    assert.equal(later.reclaimedAddresses, 1);
    assert.equal(w.store.getAddress(POOL_ID, parseIpv4(deadAddr.split('/')[0] as string)), undefined);
    assert.equal(w.store.listAddresses().length, 1, 'the live endpoint keeps its address');
  });

  test('an endpoint in flight is not judged; a port a host process took meanwhile is reported', async (t) => {
    const w = await world(t);
    await withNetwork(w);
    const ep = hexId(2);
    const addr = await attach(w, ep);
    await publish(w, ep, 8080);
    w.dataplane.veths.clear();
    w.dataplane.close();
    w.dataplane.busyPorts.add(portKey('tcp', '', 8080));
    let release = (): void => undefined;
    const held = w.locks.with(ep, () => new Promise<void>((r) => (release = r)));
    const report = await reconcileNow(w);
    release();
    await held;
    assert.equal(report.deadEndpoints, 0);
    assert.equal(report.hostPortErrors.length, 1);
    assert.match(report.hostPortErrors[0] ?? '', /8080/);
    assert.ok(w.store.getEndpoint(ep));
    assert.deepEqual(w.dataplane.firewall?.hostPorts.map((h) => formatIpv4(h.podIp)), [addr.split('/')[0]], 'the rule still forwards the port');
  });

  test('the overlay: ensured after the node with what the cluster asks for, its warning reported; none with no network', async (t) => {
    const w = await world(t);
    const overlay: OverlayState = {
      ovsBridge: 'obr0',
      datapath: 'netdev',
      tunnel: 'gre',
      topology: 'flow',
      vxlanPort: 8472,
      vni: 1,
      peers: [{ name: 'node2', ip: parseIpv4('192.0.2.12'), subnet: parseCidr('10.244.2.0/24') }],
    };
    const base = { store: w.store, dataplane: w.dataplane, ipam: w.ipam, driver: w.network, locks: w.locks, bridge: 'kbr0', graceMs: 60_000, now: () => w.clock.t };
    const withOverlay = new Reconciler({ ...base, overlay: () => overlay });
    const reconcileWith = async (r: Reconciler): Promise<ReconcileReport> => (await r.run()) as ReconcileReport;
    await reconcileWith(withOverlay);
    assert.equal(w.dataplane.callsOf('ensureOverlay').length, 0, 'no network: no overlay work');
    await withNetwork(w);
    w.dataplane.calls.length = 0;
    const first = await reconcileWith(withOverlay);
    assert.equal(first.overlayWarning, undefined);
    assert.ok(!('overlayWarning' in first));
    assert.deepEqual(w.dataplane.calls.map((c) => c.method).filter((m) => m !== 'inspectVeths').slice(0, 2), ['ensureNode', 'ensureOverlay']);
    assert.equal(w.dataplane.overlay, overlay);
    w.dataplane.overlayWarning = 'tunnels cannot leave';
    assert.equal((await reconcileWith(withOverlay)).overlayWarning, 'tunnels cannot leave');
    // Single node (no overlay function, or one that says none): ensureOverlay(undefined) removes obr0.
    await reconcileWith(new Reconciler(base));
    assert.deepEqual(w.dataplane.callsOf('ensureOverlay').at(-1)?.args, [undefined]);
    assert.equal(w.dataplane.overlay, undefined);
  });

  test('reconcile is idempotent: a second run changes nothing', async (t) => {
    const w = await world(t);
    await withNetwork(w);
    await attach(w, hexId(2));
    await reconcileNow(w);
    const endpoints = w.store.listEndpoints();
    const veths = [...w.dataplane.veths.keys()];
    const report = await reconcileNow(w);
    assert.deepEqual(report, { deadEndpoints: 0, reattached: 0, orphanLinks: 0, staleNetworks: 0, reclaimedAddresses: 0, hostPortErrors: [] });
    assert.deepEqual(w.store.listEndpoints(), endpoints);
    assert.deepEqual([...w.dataplane.veths.keys()], veths);
  });
});
