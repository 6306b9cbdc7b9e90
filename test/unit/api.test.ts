/**
 * The plugin's HTTP API end to end over the real drivers, Ipam and Store, with a fake dataplane:
 * what Docker sends, what it gets back, and what podnet remembers.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { formatIpv4, parseIpv4 } from '../../src/model/cidr';
import { Store } from '../../src/store/store';
import { hexId, makeWorld, rawPost, snapshot, type World } from './helpers';
import { portKey } from './fake-dataplane';

const POOL_ID = 'podnet-10.244.0.0/16';
const GW_KEY = 'com.docker.network.gateway';
const PORTMAP = 'com.docker.network.portmap';
const NET = hexId(1);
const EP = hexId(2);

async function world(t: TestContext, env: Record<string, string> = {}): Promise<World> {
  const w = await makeWorld(env);
  t.after(() => w.close());
  return w;
}

/** POST a JSON body (or none) through supertest. */
function post(w: World, path: string, body?: unknown): request.Test {
  const r = request(w.server).post(path);
  return body === undefined ? r : r.send(body as object);
}

/** Asserts a 500 in Docker's error shape and returns the message. */
async function fails(w: World, path: string, body: unknown, re: RegExp): Promise<string> {
  const res = await post(w, path, body);
  assert.equal(res.status, 500, `${path} should fail: ${res.text}`);
  assert.equal(typeof res.body.Err, 'string');
  assert.equal(res.body.Err, res.body.Error, 'Err and Error carry the same message');
  assert.match(res.body.Err, re);
  return res.body.Err as string;
}

async function ok(w: World, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await post(w, path, body);
  assert.equal(res.status, 200, `${path}: ${res.text}`);
  return res.body as Record<string, unknown>;
}

function requestPoolBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: {}, V6: false, ...over };
}

function createNetworkBody(over: Record<string, unknown> = {}, v4: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    NetworkID: NET,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
    IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16', AuxAddresses: null, ...v4 }],
    IPv6Data: [],
    ...over,
  };
}

/** docker network create -d podnet --ipam-driver podnet [--subnet] [--internal] [-o ...]. */
async function createNetwork(
  w: World,
  opts: { subnet?: string; internal?: boolean; generic?: Record<string, string>; networkId?: string } = {},
): Promise<void> {
  const pool = await ok(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: opts.subnet ?? '' }));
  const options: Record<string, unknown> = { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts.generic ?? {} };
  if (opts.internal) options['com.docker.network.internal'] = true;
  await ok(
    w,
    '/NetworkDriver.CreateNetwork',
    createNetworkBody({ NetworkID: opts.networkId ?? NET, Options: options }, { Pool: pool.Pool, Gateway: (pool.Data as Record<string, string>)[GW_KEY] }),
  );
}

/** docker run --network: RequestAddress -> CreateEndpoint -> Join. Returns the address (CIDR). */
async function runContainer(w: World, endpointId: string, opts: { ip?: string; networkId?: string } = {}): Promise<string> {
  const addr = await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: opts.ip ?? '', Options: null });
  const cidr = addr.Address as string;
  await ok(w, '/NetworkDriver.CreateEndpoint', {
    NetworkID: opts.networkId ?? NET,
    EndpointID: endpointId,
    Interface: { Address: cidr, AddressIPv6: '', MacAddress: '' },
    Options: {},
  });
  await ok(w, '/NetworkDriver.Join', { NetworkID: opts.networkId ?? NET, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`, Options: {} });
  return cidr;
}

function portmap(hostPort: number, port = 80, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { [PORTMAP]: [{ Proto: 6, IP: '', Port: port, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort, ...over }] };
}

describe('api: the docker run call sequence', () => {
  test('create network, run, stop, rm: exact answers and the store at each step', async (t) => {
    const w = await world(t);
    const dp = w.dataplane;

    assert.deepEqual(await ok(w, '/Plugin.Activate'), { Implements: ['NetworkDriver', 'IpamDriver'] });
    assert.deepEqual(await ok(w, '/NetworkDriver.GetCapabilities'), { Scope: 'local', ConnectivityScope: 'global' });
    assert.deepEqual(await ok(w, '/IpamDriver.GetCapabilities'), { RequiresMACAddress: false, RequiresRequestReplay: false });
    assert.deepEqual(await ok(w, '/IpamDriver.GetDefaultAddressSpaces'), {
      LocalDefaultAddressSpace: 'podnet-local',
      GlobalDefaultAddressSpace: 'podnet-global',
    });

    const pool = await ok(w, '/IpamDriver.RequestPool', requestPoolBody());
    assert.deepEqual(pool, { PoolID: POOL_ID, Pool: '0.0.0.0/0', Data: { [GW_KEY]: '10.244.1.1/16' } });
    assert.equal(w.store.listPools().length, 1);

    assert.deepEqual(await ok(w, '/NetworkDriver.CreateNetwork', createNetworkBody()), {});
    const [net] = w.store.listNetworks();
    assert.ok(net);
    assert.equal(net.networkId, NET);
    assert.equal(net.internal, false);
    assert.equal(net.mtu, 1500 - 42, 'computed: underlay 1500 minus flow GRE 42');
    assert.equal(dp.nodeUp, true);
    assert.deepEqual(dp.callsOf('applyFirewall').at(-1)?.args[1], { checkJumps: true });
    assert.equal(dp.firewall?.internal, false);
    assert.equal(dp.firewall?.bridge, 'kbr0');

    const addr = await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    assert.deepEqual(addr, { Address: '10.244.1.2/16', Data: {} });

    const created = await ok(w, '/NetworkDriver.CreateEndpoint', {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '10.244.1.2/16', AddressIPv6: '', MacAddress: '' },
      Options: { 'com.docker.network.endpoint.exposedports': [{ Proto: 6, Port: 80 }], 'com.docker.network.portmap': null },
    });
    assert.deepEqual(created, { Interface: { MacAddress: '02:42:0a:f4:01:02' } });
    const ep = w.store.getEndpoint(EP);
    assert.deepEqual(ep && { ...ep, createdAt: 0, stateSince: 0 }, {
      endpointId: EP, networkId: NET, address: parseIpv4('10.244.1.2'), mac: '02:42:0a:f4:01:02', hostVeth: null, peerVeth: null,
      createdAt: 0, state: 'bound', stateSince: 0, sandboxKey: '',
    });
    assert.equal(w.store.getAddress(POOL_ID, parseIpv4('10.244.1.2'))?.endpointId, EP, 'the address is bound to its endpoint');

    const joined = await ok(w, '/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/0123456789ab', Options: {} });
    assert.deepEqual(joined, {
      InterfaceName: { SrcName: `pt${EP.slice(0, 12)}`, DstPrefix: 'eth' },
      Gateway: '10.244.1.1',
      GatewayIPv6: '',
      StaticRoutes: [],
      DisableGatewayService: false,
    });
    assert.match((joined.InterfaceName as { SrcName: string }).SrcName, /^pt[0-9a-f]{12}$/);
    assert.equal(w.store.getEndpoint(EP)?.hostVeth, `pn${EP.slice(0, 12)}`);
    assert.deepEqual(dp.veths.get(`pn${EP.slice(0, 12)}`), {
      endpointId: EP,
      hostVeth: `pn${EP.slice(0, 12)}`,
      peerVeth: `pt${EP.slice(0, 12)}`,
      mtu: 1458,
      mac: '02:42:0a:f4:01:02',
      peerElsewhere: true,
      master: 'kbr0',
    });
    assert.equal(w.store.getEndpoint(EP)?.state, 'joined');
    assert.equal(w.store.getEndpoint(EP)?.sandboxKey, '/var/run/docker/netns/0123456789ab');

    assert.deepEqual(await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) }), {});
    assert.deepEqual(w.store.listHostPorts(), [{ endpointId: EP, protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80, podIp: parseIpv4('10.244.1.2') }]);
    assert.ok(dp.heldPorts.has(portKey('tcp', '', 8080)));
    assert.deepEqual(dp.firewall?.hostPorts.map((h) => [h.protocol, h.hostPort, formatIpv4(h.podIp), h.containerPort]), [['tcp', 8080, '10.244.1.2', 80]]);

    assert.deepEqual(await ok(w, '/NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: EP }), { Value: {} });

    // docker stop
    assert.deepEqual(await ok(w, '/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP }), {});
    assert.deepEqual(w.store.listHostPorts(), []);
    assert.equal(dp.heldPorts.size, 0);
    assert.deepEqual(dp.firewall?.hostPorts, []);

    assert.deepEqual(await ok(w, '/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP }), {});
    assert.equal(dp.veths.size, 0);
    assert.equal(w.store.getEndpoint(EP)?.hostVeth, null);
    assert.equal(w.store.getEndpoint(EP)?.state, 'left');

    assert.deepEqual(await ok(w, '/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP }), {});
    assert.equal(w.store.getEndpoint(EP), undefined);

    assert.deepEqual(await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '10.244.1.2' }), {});
    assert.deepEqual(w.store.listAddresses(), []);

    // docker network rm (the 20.10 order: DeleteNetwork first)
    assert.deepEqual(await ok(w, '/NetworkDriver.DeleteNetwork', { NetworkID: NET }), {});
    assert.deepEqual(w.store.listNetworks(), []);
    assert.equal(dp.nodeUp, false);
    assert.equal(dp.callsOf('teardownNode').length, 1);

    assert.deepEqual(await ok(w, '/IpamDriver.ReleasePool', { PoolID: POOL_ID }), {});
    assert.deepEqual(w.store.listPools(), []);

    // Nothing left, also on disk.
    await w.restart();
    assert.deepEqual(snapshot(w.store), { pools: [], addresses: [], networks: [], endpoints: [], hostPorts: [] });
  });

  test('the newer daemons\' network rm order (ReleaseAddress, ReleasePool, then DeleteNetwork) works too', async (t) => {
    const w = await world(t);
    await createNetwork(w, { subnet: '10.244.0.0/16' });
    await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '10.244.1.1' });
    await ok(w, '/IpamDriver.ReleasePool', { PoolID: POOL_ID });
    assert.deepEqual(w.store.listPools(), []);
    await ok(w, '/NetworkDriver.DeleteNetwork', { NetworkID: NET });
    assert.deepEqual(w.store.listNetworks(), []);
    assert.equal(w.dataplane.nodeUp, false);
    // and a new network can be created right away
    await createNetwork(w, { networkId: hexId(9) });
    assert.deepEqual(w.store.listNetworks().map((n) => n.networkId), [hexId(9)]);
  });

  test('CreateEndpoint echoes no MAC when Docker gave one', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    const created = await ok(w, '/NetworkDriver.CreateEndpoint', {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '10.244.1.2/16', AddressIPv6: '', MacAddress: '02:aa:bb:cc:dd:ee' },
      Options: { 'com.docker.network.endpoint.macaddress': 'Aqq7zN3u' },
    });
    assert.deepEqual(created, {});
    assert.equal(w.store.getEndpoint(EP)?.mac, '02:aa:bb:cc:dd:ee');
    await ok(w, '/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '', Options: {} });
    assert.equal(w.dataplane.veths.get(`pn${EP.slice(0, 12)}`)?.mac, '02:aa:bb:cc:dd:ee');
  });

  test('-o com.docker.network.driver.mtu sets the veth MTU', async (t) => {
    const w = await world(t);
    await createNetwork(w, { generic: { 'com.docker.network.driver.mtu': '1400' } });
    assert.equal(w.store.listNetworks()[0]?.mtu, 1400);
    await runContainer(w, EP);
    assert.equal(w.dataplane.callsOf('attachEndpoint')[0]?.args[1], 1400);
  });

  test('PODNET_MTU overrides the computed MTU; VXLAN subtracts 50', async (t) => {
    const a = await world(t, { PODNET_MTU: '1300' });
    await createNetwork(a);
    assert.equal(a.store.listNetworks()[0]?.mtu, 1300);
    const b = await world(t, { PODNET_TUNNEL: 'vxlan' });
    await createNetwork(b);
    assert.equal(b.store.listNetworks()[0]?.mtu, 1450);
  });
});

describe('api: transport', () => {
  test('empty bodies on Activate and GetCapabilities, no Content-Type, Docker\'s Accept and an odd Host', async (t) => {
    const w = await world(t);
    const headers = { Accept: 'application/vnd.docker.plugins.v1.2+json', Host: 'plugin' };
    for (const [path, want] of [
      ['/Plugin.Activate', { Implements: ['NetworkDriver', 'IpamDriver'] }],
      ['/NetworkDriver.GetCapabilities', { Scope: 'local', ConnectivityScope: 'global' }],
      ['/IpamDriver.GetCapabilities', { RequiresMACAddress: false, RequiresRequestReplay: false }],
      ['/IpamDriver.GetDefaultAddressSpaces', { LocalDefaultAddressSpace: 'podnet-local', GlobalDefaultAddressSpace: 'podnet-global' }],
    ] as const) {
      for (const body of [undefined, '']) {
        const res = await rawPost(w.server, path, body, headers);
        assert.equal(res.status, 200, `${path} ${JSON.stringify(body)}: ${res.text}`);
        assert.deepEqual(JSON.parse(res.text), want);
        assert.match(String(res.headers['content-type']), /application\/json/);
      }
    }
    // A literal null body is an empty request too.
    const res = await rawPost(w.server, '/Plugin.Activate', 'null', headers);
    assert.equal(res.status, 200);
  });

  test('a JSON body without Content-Type is read', async (t) => {
    const w = await world(t);
    const res = await rawPost(w.server, '/IpamDriver.RequestPool', JSON.stringify(requestPoolBody()), { Accept: 'application/vnd.docker.plugins.v1.2+json' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { PoolID: POOL_ID, Pool: '0.0.0.0/0', Data: { [GW_KEY]: '10.244.1.1/16' } });
    // and with an unexpected Content-Type
    const res2 = await rawPost(w.server, '/IpamDriver.GetDefaultAddressSpaces', '{}', { 'Content-Type': 'text/plain' });
    assert.equal(res2.status, 200);
  });

  test('swarm-only calls answer harmlessly', async (t) => {
    const w = await world(t);
    assert.deepEqual(await ok(w, '/NetworkDriver.AllocateNetwork', { NetworkID: NET, Options: null }), { Options: {} });
    assert.deepEqual(await ok(w, '/NetworkDriver.FreeNetwork', { NetworkID: NET }), {});
    assert.deepEqual(await ok(w, '/NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '192.0.2.1' } }), {});
    assert.deepEqual(await ok(w, '/NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: null }), {});
  });

  test('an unknown path: 404 in the error shape', async (t) => {
    const w = await world(t);
    const res = await post(w, '/NetworkDriver.NoSuchCall', {});
    assert.equal(res.status, 404);
    assert.match(res.body.Err, /does not implement POST \/NetworkDriver\.NoSuchCall/);
    assert.equal(res.body.Err, res.body.Error);
  });

  test('nulls for maps and lists, and unknown keys, are accepted everywhere', async (t) => {
    const w = await world(t);
    await ok(w, '/IpamDriver.RequestPool', { AddressSpace: null, Pool: null, SubPool: null, Options: null, V6: null, Future: { x: 1 } });
    await ok(w, '/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: null,
      IPv4Data: [{ AddressSpace: null, Pool: '0.0.0.0/0', Gateway: null, AuxAddresses: null, Extra: true }],
      IPv6Data: null,
      Labels: { a: 'b' },
    });
    await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: null, Options: null, Unknown: 1 });
    await ok(w, '/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.244.1.2/16', AddressIPv6: null, MacAddress: null }, Options: null, Future: [] });
    await ok(w, '/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: null, Options: null });
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: null });
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { [PORTMAP]: null, 'com.docker.network.endpoint.exposedports': null } });
    assert.equal(w.store.listEndpoints().length, 1);
    assert.equal(w.store.getEndpoint(EP)?.mac, '02:42:0a:f4:01:02');
  });

  test('upper-case IDs are accepted and stored lower-case', async (t) => {
    const w = await world(t);
    await createNetwork(w, { networkId: NET.toUpperCase() });
    assert.deepEqual(w.store.listNetworks().map((n) => n.networkId), [NET]);
  });

  test('calls that need the start-up reconcile wait for it; constant ones do not', async (t) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const w = await makeWorld({}, () => gate);
    t.after(() => w.close());
    assert.deepEqual(await ok(w, '/Plugin.Activate'), { Implements: ['NetworkDriver', 'IpamDriver'] });
    let done = false;
    const pending = post(w, '/IpamDriver.RequestPool', requestPoolBody()).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'RequestPool waits for ready');
    assert.deepEqual(w.store.listPools(), []);
    release();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(w.store.listPools().length, 1);
  });
});

describe('api: malformed requests fail with 500 {Err, Error} and change nothing', () => {
  async function prepared(t: TestContext): Promise<World> {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    return w;
  }

  test('malformed JSON', async (t) => {
    const w = await prepared(t);
    const before = snapshot(w.store);
    for (const path of ['/IpamDriver.RequestPool', '/NetworkDriver.CreateNetwork', '/IpamDriver.RequestAddress', '/NetworkDriver.Join']) {
      const res = await rawPost(w.server, path, '{"PoolID": "podnet-10.244.0.0/16", ');
      assert.equal(res.status, 500, path);
      const body = JSON.parse(res.text) as { Err: string; Error: string };
      assert.equal(body.Err, body.Error);
      assert.match(body.Err, /not valid JSON/);
    }
    assert.deepEqual(snapshot(w.store), before);
  });

  test('wrong types and missing fields name the field', async (t) => {
    const w = await prepared(t);
    const before = snapshot(w.store);
    await fails(w, '/NetworkDriver.CreateNetwork', { ...createNetworkBody(), NetworkID: 42 }, /NetworkID/);
    await fails(w, '/NetworkDriver.CreateNetwork', { ...createNetworkBody(), NetworkID: 'not-hex' }, /NetworkID must be 64 hex digits/);
    await fails(w, '/NetworkDriver.CreateNetwork', { ...createNetworkBody(), IPv4Data: 'pool' }, /IPv4Data/);
    await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({}, { Pool: null }), /IPv4Data\.0\.Pool/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ V6: 'yes' }), /V6/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: 10 }), /Pool/);
    await fails(w, '/IpamDriver.RequestAddress', { Address: '' }, /PoolID is required/);
    await fails(w, '/IpamDriver.RequestAddress', { PoolID: '', Address: '' }, /PoolID is required/);
    await fails(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID }, /Address is required/);
    await fails(w, '/NetworkDriver.Join', { NetworkID: NET }, /EndpointID is required/);
    await fails(w, '/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: hexId(3), Interface: 'eth0' }, /Interface/);
    await fails(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: [] }, /Options/);
    await fails(w, '/IpamDriver.RequestPool', [1, 2, 3], /invalid request/);
    await fails(w, '/NetworkDriver.DeleteNetwork', { NetworkID: '../../etc' }, /NetworkID/);
    assert.deepEqual(snapshot(w.store), before);
  });

  test('a body over 1 MB is refused', async (t) => {
    const w = await prepared(t);
    const before = snapshot(w.store);
    const big = { ...requestPoolBody(), Padding: 'x'.repeat(1_100_000) };
    await fails(w, '/IpamDriver.RequestPool', big, /larger than 1mb/);
    await fails(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: { pad: 'y'.repeat(1_100_000) } }, /larger than 1mb/);
    assert.deepEqual(snapshot(w.store), before);
    // and the server still works
    assert.deepEqual(await ok(w, '/Plugin.Activate'), { Implements: ['NetworkDriver', 'IpamDriver'] });
  });

  test('a non-CIDR pool and an IPv6 pool', async (t) => {
    const w = await world(t);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: 'not-a-cidr' }), /--subnet not-a-cidr is not a valid IPv4 subnet.*10\.244\.0\.0\/16/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: '10.244.0.0/33' }), /--subnet/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: 'fd00::/64', V6: true }), /IPv6 is not supported.*without --ipv6/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: '', V6: true }), /IPv6/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: '172.18.0.0/16' }), /not podnet's cluster CIDR 10\.244\.0\.0\/16/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Options: { 'com.example.opt': 'x' } }), /--ipam-opt/);
    assert.deepEqual(snapshot(w.store), { pools: [], addresses: [], networks: [], endpoints: [], hostPorts: [] });
  });

  test('CreateNetwork with IPv6 data or enable_ipv6 is refused, storing nothing', async (t) => {
    const w = await world(t);
    await ok(w, '/IpamDriver.RequestPool', requestPoolBody());
    const before = snapshot(w.store);
    await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({ IPv6Data: [{ AddressSpace: 'x', Pool: 'fd00::/64', AuxAddresses: null }] }), /IPv6 is not supported/);
    await fails(
      w,
      '/NetworkDriver.CreateNetwork',
      createNetworkBody({ Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': {} } }),
      /IPv6 is not supported/,
    );
    await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({ IPv4Data: [] }), /exactly one IPv4 pool \(got 0\)/);
    assert.deepEqual(snapshot(w.store), before);
    assert.equal(w.dataplane.nodeUp, false);
  });
});

describe('api: teardown is idempotent', () => {
  test('teardown calls with unknown IDs succeed', async (t) => {
    const w = await world(t);
    const other = hexId(77);
    assert.deepEqual(await ok(w, '/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: other }), {});
    assert.deepEqual(await ok(w, '/NetworkDriver.Leave', { NetworkID: NET, EndpointID: other }), {});
    assert.deepEqual(await ok(w, '/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: other }), {});
    assert.deepEqual(await ok(w, '/NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: other }), { Value: {} });
    assert.deepEqual(await ok(w, '/NetworkDriver.DeleteNetwork', { NetworkID: NET }), {});
    assert.deepEqual(await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: 'no-such-pool', Address: '10.244.1.9' }), {});
    assert.deepEqual(await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '10.244.1.1' }), {});
    assert.deepEqual(await ok(w, '/IpamDriver.ReleasePool', { PoolID: 'no-such-pool' }), {});
    assert.equal(w.dataplane.callsOf('teardownNode').length, 0, 'no network was removed, nothing torn down');
  });

  test('repeating every teardown call after a full teardown succeeds and changes nothing', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    const teardown = async (): Promise<void> => {
      await ok(w, '/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP });
      await ok(w, '/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP });
      await ok(w, '/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
      await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '10.244.1.2' });
      await ok(w, '/NetworkDriver.DeleteNetwork', { NetworkID: NET });
      await ok(w, '/IpamDriver.ReleasePool', { PoolID: POOL_ID });
    };
    await teardown();
    const empty = { pools: [], addresses: [], networks: [], endpoints: [], hostPorts: [] };
    assert.deepEqual(snapshot(w.store), empty);
    await teardown();
    assert.deepEqual(snapshot(w.store), empty);
    assert.equal(w.dataplane.callsOf('teardownNode').length, 1);
  });

  test('DeleteNetwork with endpoints left removes them and their veths', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    await runContainer(w, hexId(3));
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) });
    await ok(w, '/NetworkDriver.DeleteNetwork', { NetworkID: NET });
    assert.deepEqual(w.store.listEndpoints(), []);
    assert.deepEqual(w.store.listHostPorts(), []);
    assert.equal(w.dataplane.veths.size, 0);
    assert.equal(w.dataplane.heldPorts.size, 0);
    assert.equal(w.dataplane.nodeUp, false);
  });
});

describe('api: network create refusals', () => {
  test('a network without podnet IPAM is refused, naming --ipam-driver podnet', async (t) => {
    const w = await world(t);
    const msg = await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({}, { Pool: '172.18.0.0/16', Gateway: '172.18.0.1/16' }), /--ipam-driver podnet/);
    assert.match(msg, /172\.18\.0\.0\/16/);
    assert.deepEqual(w.store.listNetworks(), []);
    assert.equal(w.dataplane.nodeUp, false);
  });

  test('a second network is refused, at RequestPool and at CreateNetwork', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody(), /already has a podnet network/);
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: '10.244.0.0/16' }), /already has a podnet network/);
    await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({ NetworkID: hexId(5) }), /already has a podnet network/);
    assert.deepEqual(w.store.listNetworks().map((n) => n.networkId), [NET]);
    assert.equal(w.store.listPools().length, 1);
    // the same CreateNetwork again (a retry) is fine
    assert.deepEqual(await ok(w, '/NetworkDriver.CreateNetwork', createNetworkBody()), {});
  });

  test('--gateway other than the node gateway is refused (RequestAddress and CreateNetwork)', async (t) => {
    const w = await world(t);
    await ok(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: '10.244.0.0/16' }));
    await fails(
      w,
      '/IpamDriver.RequestAddress',
      { PoolID: POOL_ID, Address: '10.244.0.1', Options: { RequestAddressType: GW_KEY } },
      /--gateway 10\.244\.0\.1 is not this node's gateway 10\.244\.1\.1/,
    );
    assert.deepEqual(await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '10.244.1.1', Options: { RequestAddressType: GW_KEY } }), {
      Address: '10.244.1.1/16',
      Data: {},
    });
    await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({}, { Pool: '10.244.0.0/16', Gateway: '10.244.0.1/16' }), /--gateway 10\.244\.0\.1 is not this node's gateway/);
    assert.deepEqual(w.store.listNetworks(), []);
    assert.deepEqual(w.store.listAddresses(), []);
  });

  test('unknown -o is refused, listing com.docker.network.driver.mtu; bad mtu refused; Docker then releases the pool', async (t) => {
    const w = await world(t);
    await ok(w, '/IpamDriver.RequestPool', requestPoolBody());
    await fails(
      w,
      '/NetworkDriver.CreateNetwork',
      createNetworkBody({ Options: { 'com.docker.network.generic': { 'com.docker.network.bridge.name': 'br0' } } }),
      /-o com\.docker\.network\.bridge\.name.*com\.docker\.network\.driver\.mtu/,
    );
    await fails(w, '/NetworkDriver.CreateNetwork', createNetworkBody({ Options: { 'com.docker.network.generic': { 'com.docker.network.driver.mtu': '100' } } }), /576 to 65535/);
    assert.deepEqual(w.store.listNetworks(), []);
    await ok(w, '/IpamDriver.ReleasePool', { PoolID: POOL_ID });
    await createNetwork(w);
    assert.equal(w.store.listNetworks().length, 1);
  });

  test('aux addresses are reserved and never handed out; released with the network', async (t) => {
    const w = await world(t, { PODNET_NODE_SUBNET: '10.244.1.0/29' });
    await ok(w, '/IpamDriver.RequestPool', requestPoolBody({ Pool: '10.244.0.0/16' }));
    // Docker requests each aux address before CreateNetwork.
    await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '10.244.1.3', Options: null });
    await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '10.244.1.4', Options: null });
    await ok(
      w,
      '/NetworkDriver.CreateNetwork',
      createNetworkBody({}, { Pool: '10.244.0.0/16', Gateway: '10.244.1.1/16', AuxAddresses: { router: '10.244.1.3/16', dns: '10.244.1.4/16' } }),
    );
    assert.deepEqual(
      w.store.listAddresses().map((a) => [formatIpv4(a.address), a.kind]).sort(),
      [['10.244.1.3', 'aux'], ['10.244.1.4', 'aux']],
    );
    // Long after, with no endpoint on them, they are still not reclaimed.
    w.clock.t += 10 * 60_000;
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} })).Address);
    assert.deepEqual(got, ['10.244.1.2/16', '10.244.1.5/16', '10.244.1.6/16']);
    await fails(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} }, /no free address left/);
    assert.ok(w.store.getAddress(POOL_ID, parseIpv4('10.244.1.3')));
  });
});

describe('api: endpoints and host ports', () => {
  test('HostPort 0 is refused with a message asking for an explicit host port; nothing published', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    await fails(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(0) }, /explicit host port.*-p 80:80\/tcp/);
    await fails(
      w,
      '/NetworkDriver.ProgramExternalConnectivity',
      { NetworkID: NET, EndpointID: EP, Options: portmap(8000, 80, { HostPortEnd: 8005 }) },
      /range 8000-8005 is not supported/,
    );
    assert.deepEqual(w.store.listHostPorts(), []);
    assert.equal(w.dataplane.heldPorts.size, 0);
  });

  test('a host port published by another endpoint is refused (Conflict); the first keeps its rules', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    const ep2 = hexId(3);
    await runContainer(w, EP);
    await runContainer(w, ep2);
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) });
    const firstRows = w.store.listHostPorts();
    const msg = await fails(
      w,
      '/NetworkDriver.ProgramExternalConnectivity',
      { NetworkID: NET, EndpointID: ep2, Options: portmap(8080, 81) },
      /host port 0\.0\.0\.0:8080\/tcp is already published by another container \(pod 10\.244\.1\.2\)/,
    );
    assert.ok(msg.length > 0);
    // the same port on a specific address overlaps "every address" too
    await fails(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: ep2, Options: portmap(8080, 81, { HostIP: '127.0.0.1' }) }, /already published/);
    assert.deepEqual(w.store.listHostPorts(), firstRows);
    assert.deepEqual(w.store.hostPortsOf(ep2), []);
    assert.ok(w.dataplane.heldPorts.has(portKey('tcp', '', 8080)));
    assert.deepEqual(w.dataplane.firewall?.hostPorts.map((h) => [h.hostPort, formatIpv4(h.podIp), h.containerPort]), [[8080, '10.244.1.2', 80]]);
    // udp 8080 is another port
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: ep2, Options: portmap(8080, 81, { Proto: 17 }) });
    assert.equal(w.store.listHostPorts().length, 2);
  });

  test('a host port a host process holds is refused, and nothing is left published', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    w.dataplane.busyPorts.add(portKey('tcp', '', 9090));
    const options = { [PORTMAP]: [
      { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
      { Proto: 6, IP: '', Port: 90, HostIP: '', HostPort: 9090, HostPortEnd: 9090 },
    ] };
    await fails(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: options }, /already in use by a process/);
    assert.deepEqual(w.store.listHostPorts(), []);
    assert.equal(w.dataplane.heldPorts.size, 0, 'the port taken before the failure was let go');
    assert.deepEqual(w.dataplane.firewall?.hostPorts, []);
  });

  test('programming the same ports twice is a no-op; new ports replace the old', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) });
    const applies = w.dataplane.callsOf('applyFirewall').length;
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) });
    assert.equal(w.dataplane.callsOf('applyFirewall').length, applies);
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(9090) });
    assert.deepEqual(w.store.listHostPorts().map((h) => h.hostPort), [9090]);
    assert.deepEqual([...w.dataplane.heldPorts], [portKey('tcp', '', 9090)]);
  });

  test('finding 2: a ReleaseAddress of an address bound to a live endpoint frees nothing and tears nothing down', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await runContainer(w, EP);
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) });
    // A late release (of an earlier owner of this address) names no endpoint: it must not hit EP.
    await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '10.244.1.2' });
    assert.ok(w.store.getEndpoint(EP), 'the endpoint stays');
    assert.equal(w.store.listHostPorts().length, 1);
    assert.equal(w.store.getAddress(POOL_ID, parseIpv4('10.244.1.2'))?.endpointId, EP);
    assert.equal(w.dataplane.veths.has(`pn${EP.slice(0, 12)}`), true);
    assert.equal(w.dataplane.callsOf('detachLinks').length, 0);
    // The address is not handed out again.
    const next = await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    assert.notEqual(next['Address'], '10.244.1.2/16');
    // After Docker's own teardown, its release frees the address.
    await ok(w, '/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP });
    await ok(w, '/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
    await ok(w, '/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '10.244.1.2' });
    assert.equal(w.store.getAddress(POOL_ID, parseIpv4('10.244.1.2')), undefined);
    assert.equal(w.dataplane.heldPorts.size, 0);
  });

  test('20 concurrent RequestAddress calls give 20 distinct addresses', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => request(w.server).post('/IpamDriver.RequestAddress').send({ PoolID: POOL_ID, Address: '', Options: {} })),
    );
    for (const r of answers) assert.equal(r.status, 200, r.text);
    const addrs = answers.map((r) => r.body.Address as string);
    assert.equal(new Set(addrs).size, 20);
    for (const a of addrs) assert.match(a, /^10\.244\.1\.\d+\/16$/);
    assert.equal(w.store.listAddresses().length, 20);
  });

  test('static --ip: honoured inside the node subnet, refused outside or taken (needs --subnet)', async (t) => {
    const w = await world(t);
    await createNetwork(w, { subnet: '10.244.0.0/16' });
    assert.equal(await runContainer(w, EP, { ip: '10.244.1.50' }), '10.244.1.50/16');
    await fails(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '10.244.1.50', Options: {} }, /already in use/);
    await fails(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '10.244.7.5', Options: {} }, /outside this node's pod addresses \(10\.244\.1\.0\/24/);
    await fails(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '10.244.1.1', Options: {} }, /gateway/);
    assert.equal(w.store.listAddresses().length, 1);
  });

  test('CreateEndpoint refusals: unknown network, no address, IPv6, outside the node subnet', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    const iface = (over: Record<string, unknown>) => ({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.244.1.2/16', AddressIPv6: '', MacAddress: '', ...over }, Options: {} });
    await fails(w, '/NetworkDriver.CreateEndpoint', { ...iface({}), NetworkID: hexId(99) }, /unknown network/);
    await fails(w, '/NetworkDriver.CreateEndpoint', iface({ Address: '' }), /--ipam-driver podnet/);
    await fails(w, '/NetworkDriver.CreateEndpoint', iface({ AddressIPv6: 'fd00::2/64' }), /IPv6/);
    await fails(w, '/NetworkDriver.CreateEndpoint', iface({ Address: '10.244.9.2/16' }), /outside this node's subnet 10\.244\.1\.0\/24/);
    assert.deepEqual(w.store.listEndpoints(), []);
    await fails(w, '/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '', Options: {} }, /unknown endpoint/);
  });

  test('an endpoint whose address podnet did not hand out (state lost) is adopted: never handed out twice', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    await ok(w, '/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.244.1.2/16', AddressIPv6: '', MacAddress: '' }, Options: {} });
    assert.ok(w.store.getAddress(POOL_ID, parseIpv4('10.244.1.2')));
    assert.deepEqual(await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} }), { Address: '10.244.1.3/16', Data: {} });
  });
});

describe('api: --internal network', () => {
  test('Join gives no gateway; Program with ports is refused; without ports it is fine', async (t) => {
    const w = await world(t);
    await createNetwork(w, { internal: true });
    assert.equal(w.store.listNetworks()[0]?.internal, true);
    assert.equal(w.dataplane.firewall?.internal, true);
    await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    await ok(w, '/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.244.1.2/16', AddressIPv6: '', MacAddress: '' }, Options: {} });
    const joined = await ok(w, '/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '', Options: {} });
    assert.deepEqual(joined, {
      InterfaceName: { SrcName: `pt${EP.slice(0, 12)}`, DstPrefix: 'eth' },
      Gateway: '',
      GatewayIPv6: '',
      StaticRoutes: [],
      DisableGatewayService: false,
    });
    await fails(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) }, /--internal podnet network publishes no host ports/);
    assert.deepEqual(w.store.listHostPorts(), []);
    assert.deepEqual(await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { [PORTMAP]: [] } }), {});
  });
});

describe('api: state survives a plugin restart', () => {
  test('after reopening the store, allocations, endpoints and host ports are remembered', async (t) => {
    const w = await world(t);
    await createNetwork(w);
    const a1 = await runContainer(w, EP);
    const a2 = await runContainer(w, hexId(3));
    await ok(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) });
    const before = snapshot(w.store);
    await w.restart();
    assert.deepEqual(snapshot(w.store), before);
    const a3 = (await ok(w, '/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} })).Address;
    assert.equal(new Set([a1, a2, a3]).size, 3, 'no duplicate after restart');
    await fails(w, '/IpamDriver.RequestPool', requestPoolBody(), /already has a podnet network/);
    await fails(w, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: hexId(3), Options: portmap(8080) }, /already published/);
    // The on-disk file is an ordinary SQLite database another Store can read.
    const again = new Store(w.store.path);
    try {
      assert.equal(again.listEndpoints().length, 2);
    } finally {
      again.close();
    }
  });
});
