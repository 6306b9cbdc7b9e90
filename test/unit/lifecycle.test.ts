/**
 * The endpoint lifecycle (src/reconcile/lifecycle.ts) through the drivers and the reconciler,
 * over a real Store and the fake dataplane: every transition, and the issue-10 findings that the
 * fake can show (the real-kernel ones are in test/integration/lifecycle.test.ts).
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '../../src/model/cidr';
import { SETTLE_MS, judgeEndpoint, planLifecycle } from '../../src/reconcile/lifecycle';
import type { EndpointRecord } from '../../src/model/types';
import { hexId, makeWorld, type World } from './helpers';
import { portKey } from './fake-dataplane';
import * as schemas from '../../src/api/schemas';

const POOL_ID = 'podnet-10.244.0.0/16';
const NET = hexId(1);
const GRACE = 60_000;

async function world(t: TestContext): Promise<World> {
  const w = await makeWorld();
  t.after(() => w.close());
  await w.ipamDriver.requestPool({ AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: {}, V6: false });
  await w.network.createNetwork({
    NetworkID: NET, Options: {}, IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16', AuxAddresses: {} }], IPv6Data: [],
  });
  return w;
}

async function create(w: World, ep: string, address?: string): Promise<string> {
  const Address = address ?? (await w.ipamDriver.requestAddress({ PoolID: POOL_ID, Address: '', Options: {} })).Address;
  await w.network.createEndpoint({ NetworkID: NET, EndpointID: ep, Interface: { Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  return Address;
}

const join = (w: World, ep: string): Promise<unknown> => w.network.join({ NetworkID: NET, EndpointID: ep, SandboxKey: `/var/run/docker/netns/${ep.slice(0, 12)}`, Options: {} });
const publish = (w: World, ep: string, hostPort: number): Promise<unknown> =>
  w.network.programExternalConnectivity({
    NetworkID: NET, EndpointID: ep,
    Options: { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort }] },
  });

async function pass(w: World): Promise<void> {
  assert.ok(await w.reconciler.run(), 'reconcile pass failed');
}

function row(w: World, address: string): ReturnType<World['store']['getAddress']> {
  return w.store.getAddress(POOL_ID, parseIpv4(address.split('/')[0] as string));
}

describe('lifecycle: transitions', () => {
  test('allocated -> bound -> joining/joined -> left -> deleted -> free, with the address row at each step', async (t) => {
    const w = await world(t);
    const ep = hexId(2);
    const { Address } = await w.ipamDriver.requestAddress({ PoolID: POOL_ID, Address: '', Options: {} });
    assert.equal(row(w, Address)?.endpointId, null);
    await create(w, ep, Address);
    assert.equal(w.store.getEndpoint(ep)?.state, 'bound');
    assert.equal(row(w, Address)?.endpointId, ep);
    await join(w, ep);
    assert.equal(w.store.getEndpoint(ep)?.state, 'joined');
    assert.equal(w.store.getEndpoint(ep)?.peerVeth, `pt${ep.slice(0, 12)}`);
    await w.network.leave({ NetworkID: NET, EndpointID: ep });
    assert.equal(w.store.getEndpoint(ep)?.state, 'left');
    assert.equal(w.dataplane.veths.size, 0);
    await w.network.deleteEndpoint({ NetworkID: NET, EndpointID: ep });
    assert.equal(w.store.getEndpoint(ep), undefined);
    assert.equal(row(w, Address)?.endpointId, null, 'unbound, waiting for ReleaseAddress');
    assert.equal(row(w, Address)?.quarantinedAt, null);
    await w.ipamDriver.releaseAddress({ PoolID: POOL_ID, Address: Address.split('/')[0] as string });
    assert.equal(row(w, Address), undefined);
  });

  for (const state of ['bound', 'left'] as const) {
    test(`${state} longer than the grace period: dead, address quarantined from then, free a grace period later`, async (t) => {
      const w = await world(t);
      const ep = hexId(3);
      const addr = await create(w, ep);
      if (state === 'left') {
        await join(w, ep);
        await w.network.leave({ NetworkID: NET, EndpointID: ep });
      }
      w.clock.t += GRACE - 1;
      await pass(w);
      assert.ok(w.store.getEndpoint(ep), 'still within the grace period');
      w.clock.t += 2;
      await pass(w);
      assert.equal(w.store.getEndpoint(ep), undefined);
      assert.equal(row(w, addr)?.quarantinedAt, w.clock.t);
      w.clock.t += GRACE - 1;
      await pass(w);
      assert.ok(row(w, addr), 'quarantine is counted from the death, not the allocation');
      w.clock.t += 2;
      await pass(w);
      assert.equal(row(w, addr), undefined);
    });
  }

  test('joined: alive while its peer is in a sandbox, however old; dead once the veth is gone', async (t) => {
    const w = await world(t);
    const ep = hexId(4);
    await create(w, ep);
    await join(w, ep);
    w.clock.t += GRACE * 100;
    await pass(w);
    assert.equal(w.store.getEndpoint(ep)?.state, 'joined');
    w.dataplane.veths.clear();
    await pass(w);
    assert.equal(w.store.getEndpoint(ep), undefined);
  });

  test('joined with its peer back in the host namespace: alive for SETTLE_MS (Docker is moving it), then dead', () => {
    const ep: EndpointRecord = {
      endpointId: hexId(5), networkId: NET, address: 1, mac: '', hostVeth: 'pnaaaaaaaaaaaa', peerVeth: 'ptaaaaaaaaaaaa',
      createdAt: 0, state: 'joined', stateSince: 0, sandboxKey: '/x',
    };
    const veths = new Map([['pnaaaaaaaaaaaa', { name: 'pnaaaaaaaaaaaa', peerElsewhere: false, master: 'kbr0' }]]);
    assert.equal(judgeEndpoint(ep, { veths, now: SETTLE_MS, graceMs: GRACE }), undefined);
    assert.match(judgeEndpoint(ep, { veths, now: SETTLE_MS + 1, graceMs: GRACE }) ?? '', /back in the host namespace/);
  });

  test('an endpoint held by a request is not judged; planLifecycle names orphans and stale networks', () => {
    const ep: EndpointRecord = {
      endpointId: hexId(6), networkId: NET, address: 1, mac: '', hostVeth: 'pnbbbbbbbbbbbb', peerVeth: 'ptbbbbbbbbbbbb',
      createdAt: 0, state: 'joined', stateSince: 0, sandboxKey: '',
    };
    const plan = planLifecycle({
      endpoints: [ep], networks: [{ networkId: NET, internal: false, mtu: 1450, createdAt: 0, poolId: 'gone' }], pools: [],
      veths: new Map([['pncccccccccccc', { name: 'pncccccccccccc', peerElsewhere: false, master: 'kbr0' }], ['eth0', { name: 'eth0', peerElsewhere: true, master: undefined }]]),
      busy: new Set([ep.endpointId]), reaping: { has: () => false }, bridge: 'kbr0', now: GRACE * 10, graceMs: GRACE,
    });
    assert.deepEqual(plan.dead, []);
    assert.deepEqual(plan.orphans, ['pncccccccccccc']);
    assert.deepEqual(plan.staleNetworks, [NET]);
    assert.equal(plan.nodeWanted, false);
  });
});

describe('lifecycle: the issue-10 findings', () => {
  test('finding 1: a recreated bridge (veths off it, peers in sandboxes) kills nothing: they are attached again', async (t) => {
    const w = await world(t);
    const ep = hexId(7);
    await create(w, ep);
    await join(w, ep);
    const name = `pn${ep.slice(0, 12)}`;
    const v = w.dataplane.veths.get(name);
    assert.ok(v);
    w.dataplane.veths.set(name, { ...v, master: undefined });
    await pass(w);
    assert.equal(w.store.getEndpoint(ep)?.state, 'joined');
    assert.deepEqual(w.dataplane.callsOf('reattachVeths').at(-1)?.args[0], [name]);
    assert.equal(w.dataplane.veths.get(name)?.master, 'kbr0');
  });

  test('finding 3: an endpoint whose sandbox went while podnet was away loses its host port, which the next container can publish', async (t) => {
    const w = await world(t);
    const ep = hexId(8);
    await create(w, ep);
    await join(w, ep);
    await publish(w, ep, 8080);
    const name = `pn${ep.slice(0, 12)}`;
    const v = w.dataplane.veths.get(name);
    assert.ok(v);
    w.dataplane.veths.set(name, { ...v, peerElsewhere: false }); // libnetwork moved eth0 back to the host
    w.dataplane.close();
    await w.restart();
    w.clock.t += SETTLE_MS + 1;
    await pass(w);
    assert.equal(w.store.getEndpoint(ep), undefined);
    assert.deepEqual(w.store.listHostPorts(), []);
    assert.ok(!w.dataplane.veths.has(name), 'its veth pair is deleted');
    const next = hexId(9);
    await create(w, next);
    await join(w, next);
    await publish(w, next, 8080);
    assert.ok(w.dataplane.heldPorts.has(portKey('tcp', '', 8080)));
  });

  test('finding 4: a CreateNetwork Docker rolled back (ReleasePool) leaves no network; the next create works', async (t) => {
    const w = await world(t);
    await w.ipamDriver.releasePool({ PoolID: POOL_ID });
    assert.deepEqual(w.store.listNetworks(), []);
    assert.equal(w.dataplane.nodeUp, false);
    await w.ipamDriver.requestPool({ AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: {}, V6: false });
    const other = hexId(10);
    await w.network.createNetwork({
      NetworkID: other, Options: {}, IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16', AuxAddresses: {} }], IPv6Data: [],
    });
    assert.deepEqual(w.store.listNetworks().map((n) => n.networkId), [other]);
  });

  test('finding 4: a network row whose pool is gone (a crash before the roll-back reached podnet) is reconciled away', async (t) => {
    const w = await world(t);
    w.store.deletePool(POOL_ID);
    await pass(w);
    assert.deepEqual(w.store.listNetworks(), []);
    assert.equal(w.dataplane.nodeUp, false);
  });

  test('finding 5: MacAddress and addresses are validated at the edge', () => {
    const base = { NetworkID: NET, EndpointID: hexId(11), Interface: { Address: '10.244.1.5/16' } };
    for (const MacAddress of ['02:42:0a:f4:01:05 netns X', 'zz:zz', '02:42:0a:f4:01', '03:42:0a:f4:01:05', '02:42:0a:f4:01:05\n']) {
      assert.equal(schemas.createEndpoint.safeParse({ ...base, Interface: { ...base.Interface, MacAddress } }).success, false, MacAddress);
    }
    assert.equal(schemas.createEndpoint.safeParse({ ...base, Interface: { ...base.Interface, MacAddress: '02:42:0A:F4:01:05' } }).success, true);
    for (const Address of ['10.244.1.5', '10.244.1.5/16 dev x', '300.1.1.1/16']) {
      assert.equal(schemas.createEndpoint.safeParse({ ...base, Interface: { Address } }).success, false, Address);
    }
    assert.equal(schemas.releaseAddress.safeParse({ PoolID: POOL_ID, Address: '10.244.1.5 x' }).success, false);
    assert.equal(schemas.endpoint.safeParse({ NetworkID: NET, EndpointID: 'abcdef012345' }).success, false, '12 hex is not a Docker ID');
  });

  test('finding 6: CreateEndpoint refuses an address another endpoint holds (16 tries, one winner)', async (t) => {
    const w = await world(t);
    const { Address } = await w.ipamDriver.requestAddress({ PoolID: POOL_ID, Address: '', Options: {} });
    const ids = Array.from({ length: 16 }, (_, i) => hexId(100 + i));
    const results = await Promise.allSettled(ids.map((id) => create(w, id, Address)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /held by another endpoint/);
    assert.equal(w.store.endpointsByAddress(parseIpv4(Address.split('/')[0] as string)).length, 1);
  });

  test('finding 7: Leave/DeleteEndpoint of an unknown ID and a second Join delete no live pair; shared 12-hex prefixes get other names', async (t) => {
    const w = await world(t);
    const a = hexId(12);
    await create(w, a);
    await join(w, a);
    const twin = a.slice(0, 12) + 'f'.repeat(52); // same first 12 hex digits
    await w.network.leave({ NetworkID: NET, EndpointID: twin });
    await w.network.deleteEndpoint({ NetworkID: NET, EndpointID: twin });
    assert.ok(w.dataplane.veths.has(`pn${a.slice(0, 12)}`));
    await assert.rejects(join(w, a), /already joined/);
    assert.ok(w.dataplane.veths.has(`pn${a.slice(0, 12)}`));
    await create(w, twin);
    await join(w, twin);
    assert.equal(w.store.getEndpoint(twin)?.hostVeth, `pn${'f'.repeat(12)}`);
    assert.equal(w.dataplane.veths.size, 2);
    await w.network.leave({ NetworkID: NET, EndpointID: twin });
    assert.ok(w.dataplane.veths.has(`pn${a.slice(0, 12)}`), 'the twin\'s teardown deletes only its own links');
  });
});
