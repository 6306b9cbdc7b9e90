import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, ExhaustedError, InvalidOptionError, NotFoundError, UnsupportedError } from '../../src/errors';
import { ANY_POOL, DEFAULT_GRACE_MS, Ipam, type PoolRequest } from '../../src/ipam/ipam';
import { formatIpv4, parseIpv4 } from '../../src/model/cidr';
import { Store } from '../../src/store/store';
import { settingsFor, tempDir, type Clock } from './helpers';

const GRACE = 60_000;

interface Env {
  store: Store;
  ipam: Ipam;
  clock: Clock;
  /** Closes the store and opens it again with a new Ipam (a plugin restart). */
  restart(): void;
}

function setup(t: TestContext, env: Record<string, string> = {}): Env {
  const { dir, remove } = tempDir();
  const settings = settingsFor(env);
  const clock: Clock = { t: 1_000_000 };
  const make = (): Ipam => new Ipam(e.store, { ...settings, graceMs: GRACE }, () => clock.t);
  const e: Env = {
    store: Store.open(dir),
    ipam: undefined as unknown as Ipam,
    clock,
    restart() {
      e.store.close();
      e.store = Store.open(dir);
      e.ipam = make();
    },
  };
  e.ipam = make();
  t.after(() => {
    e.store.close();
    remove();
  });
  return e;
}

function poolReq(over: Partial<PoolRequest> = {}): PoolRequest {
  return { pool: '', subPool: '', v6: false, options: {}, ...over };
}

const ip = (n: number): string => formatIpv4(n);
const stored = (store: Store): string[] => store.listAddresses().map((a) => ip(a.address)).sort();

describe('ipam: pools', () => {
  test('without --subnet: 0.0.0.0/0 and the node gateway with the cluster mask', (t) => {
    const { ipam, store, clock } = setup(t);
    const answer = ipam.requestPool(poolReq());
    assert.deepEqual(answer, { poolId: 'podnet-10.244.0.0/16', pool: ANY_POOL, gatewayCidr: '10.244.1.1/16' });
    assert.equal(ANY_POOL, '0.0.0.0/0');
    assert.deepEqual(store.listPools(), [{ poolId: answer.poolId, pool: '0.0.0.0/0', subPool: null, createdAt: clock.t }]);
  });

  test('--subnet equal to the cluster CIDR', (t) => {
    const { ipam, store } = setup(t);
    const answer = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    assert.deepEqual(answer, { poolId: 'podnet-10.244.0.0/16', pool: '10.244.0.0/16', gatewayCidr: '10.244.1.1/16' });
    assert.equal(store.getPool(answer.poolId)?.pool, '10.244.0.0/16');
  });

  test('another --subnet is refused, naming the cluster CIDR; nothing is stored', (t) => {
    const { ipam, store } = setup(t);
    for (const pool of ['172.18.0.0/16', '10.244.0.0/17', '10.0.0.0/8', '10.244.1.0/24']) {
      assert.throws(
        () => ipam.requestPool(poolReq({ pool })),
        (err: unknown) => err instanceof InvalidOptionError && err.message.includes('10.244.0.0/16') && err.message.includes(pool),
        pool,
      );
    }
    assert.throws(() => ipam.requestPool(poolReq({ pool: 'banana' })), (err: unknown) => err instanceof InvalidOptionError && /--subnet banana/.test(err.message));
    assert.throws(() => ipam.requestPool(poolReq({ pool: '10.244.0.1/16' })), /host bits/);
    assert.deepEqual(store.listPools(), []);
  });

  test('IPv6 is refused', (t) => {
    const { ipam, store } = setup(t);
    assert.throws(() => ipam.requestPool(poolReq({ v6: true, pool: 'fd00::/64' })), (err: unknown) => err instanceof UnsupportedError && /IPv6/.test(err.message));
    assert.throws(() => ipam.requestPool(poolReq({ v6: true })), UnsupportedError);
    assert.deepEqual(store.listPools(), []);
  });

  test('--ipam-opt is refused, naming the options', (t) => {
    const { ipam, store } = setup(t);
    assert.throws(
      () => ipam.requestPool(poolReq({ options: { foo: 'bar', baz: '1' } })),
      (err: unknown) => err instanceof InvalidOptionError && /foo, baz/.test(err.message) && /--ipam-opt/.test(err.message),
    );
    assert.deepEqual(store.listPools(), []);
  });

  test('--ip-range must lie inside the node subnet and needs --subnet', (t) => {
    const { ipam, store } = setup(t);
    assert.throws(() => ipam.requestPool(poolReq({ subPool: '10.244.1.0/25' })), /--ip-range needs --subnet 10\.244\.0\.0\/16/);
    assert.throws(
      () => ipam.requestPool(poolReq({ pool: '10.244.0.0/16', subPool: '10.244.2.0/24' })),
      (err: unknown) => err instanceof InvalidOptionError && err.message.includes('10.244.1.0/24'),
    );
    assert.throws(() => ipam.requestPool(poolReq({ pool: '10.244.0.0/16', subPool: '10.244.0.0/23' })), InvalidOptionError, 'larger than the node subnet');
    assert.throws(() => ipam.requestPool(poolReq({ pool: '10.244.0.0/16', subPool: '10.244.1.5/25' })), /not a valid IPv4 range/);
    assert.deepEqual(store.listPools(), []);
  });

  test('--ip-range restricts allocation to the range', (t) => {
    const { ipam, store } = setup(t);
    const { poolId } = ipam.requestPool(poolReq({ pool: '10.244.0.0/16', subPool: '10.244.1.128/30' }));
    assert.equal(store.getPool(poolId)?.subPool, '10.244.1.128/30');
    const got = [1, 2, 3, 4].map(() => ipam.requestAddress(poolId, '', false));
    assert.deepEqual(got, ['10.244.1.128/16', '10.244.1.129/16', '10.244.1.130/16', '10.244.1.131/16']);
    assert.throws(() => ipam.requestAddress(poolId, '', false), (err: unknown) => err instanceof ExhaustedError && err.message.includes('--ip-range 10.244.1.128/30'));
  });

  test('a second pool while one exists is refused (Conflict)', (t) => {
    const { ipam, store, clock } = setup(t);
    const first = ipam.requestPool(poolReq());
    clock.t += 1000;
    assert.throws(() => ipam.requestPool(poolReq()), (err: unknown) => err instanceof ConflictError && err.message.includes('10.244.0.0/16'));
    assert.throws(() => ipam.requestPool(poolReq({ pool: '10.244.0.0/16' })), ConflictError);
    assert.deepEqual(store.listPools().map((p) => p.poolId), [first.poolId]);
  });

  test('a pool with a network is never taken over, however old', (t) => {
    const { ipam, store, clock } = setup(t);
    const { poolId } = ipam.requestPool(poolReq());
    store.putNetwork({ networkId: 'n'.repeat(64), internal: false, mtu: 1458, createdAt: clock.t, poolId });
    clock.t += GRACE * 100;
    assert.throws(() => ipam.requestPool(poolReq()), ConflictError);
    assert.equal(store.getPool(poolId)?.createdAt, 1_000_000);
  });

  test('a stale pool (no network, older than the grace period) is taken over, its addresses forgotten', (t) => {
    const { ipam, store, clock } = setup(t);
    const old = ipam.requestPool(poolReq());
    ipam.requestAddress(old.poolId, '', false);
    clock.t += GRACE; // exactly the grace period: not yet stale
    assert.throws(() => ipam.requestPool(poolReq({ pool: '10.244.0.0/16' })), ConflictError);
    clock.t += 1;
    const fresh = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    assert.deepEqual(store.listPools(), [{ poolId: fresh.poolId, pool: '10.244.0.0/16', subPool: null, createdAt: clock.t }]);
    assert.deepEqual(store.listAddresses(), []);
    assert.equal(ipam.inUse(fresh.poolId), 0);
  });

  test('releasePool forgets the pool and its addresses; unknown pools are fine', (t) => {
    const { ipam, store } = setup(t);
    const { poolId } = ipam.requestPool(poolReq());
    ipam.requestAddress(poolId, '', false);
    ipam.reserve(poolId, [parseIpv4('10.244.1.200')]);
    ipam.releasePool(poolId);
    assert.deepEqual(store.listPools(), []);
    assert.deepEqual(store.listAddresses(), []);
    ipam.releasePool(poolId);
    ipam.releasePool('no-such-pool');
    assert.doesNotThrow(() => ipam.requestPool(poolReq()), 'a new pool right away');
  });

  test('the default grace period is a minute', () => {
    assert.equal(DEFAULT_GRACE_MS, 60_000);
  });
});

describe('ipam: addresses', () => {
  test('network, gateway and broadcast are never handed out; answers carry the /16 mask', (t) => {
    const { ipam, store } = setup(t, { PODNET_NODE_SUBNET: '10.244.1.0/28' });
    const { poolId } = ipam.requestPool(poolReq());
    const got: string[] = [];
    for (let i = 0; i < 13; i++) got.push(ipam.requestAddress(poolId, '', false));
    assert.deepEqual(got, Array.from({ length: 13 }, (_, i) => `10.244.1.${i + 2}/16`));
    for (const a of got) assert.match(a, /\/16$/);
    assert.ok(!got.some((a) => ['10.244.1.0/16', '10.244.1.1/16', '10.244.1.15/16'].includes(a)));
    assert.equal(store.listAddresses(poolId).length, 13);
    assert.ok(store.listAddresses().every((a) => a.kind === 'endpoint'));
  });

  test('exhaustion of a /28 node subnet after 13 addresses gives a clear ExhaustedError', (t) => {
    const { ipam, store } = setup(t, { PODNET_NODE_SUBNET: '10.244.1.0/28' });
    const { poolId } = ipam.requestPool(poolReq());
    const got = new Set<string>();
    for (let i = 0; i < 13; i++) got.add(ipam.requestAddress(poolId, '', false));
    assert.equal(got.size, 13);
    assert.throws(
      () => ipam.requestAddress(poolId, '', false),
      (err: unknown) =>
        err instanceof ExhaustedError &&
        err.code === 'PODNET_ERR_EXHAUSTED' &&
        err.message.includes('10.244.1.0/28') &&
        err.message.includes('PODNET_NODE_SUBNET'),
    );
    assert.equal(store.listAddresses().length, 13, 'the failed request stored nothing');
  });

  test('round robin: a released address is not reused at once', (t) => {
    const { ipam } = setup(t);
    const { poolId } = ipam.requestPool(poolReq());
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.2/16');
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.3/16');
    assert.equal(ipam.releaseAddress(poolId, '10.244.1.2'), true);
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.4/16');
    assert.equal(ipam.releaseAddress(poolId, '10.244.1.2'), false, 'second release: already free');
  });

  test('round robin wraps around to freed addresses at the end of the range', (t) => {
    const { ipam } = setup(t, { PODNET_NODE_SUBNET: '10.244.1.0/29' });
    const { poolId } = ipam.requestPool(poolReq());
    const got = [1, 2, 3, 4, 5].map(() => ipam.requestAddress(poolId, '', false));
    assert.deepEqual(got, ['10.244.1.2/16', '10.244.1.3/16', '10.244.1.4/16', '10.244.1.5/16', '10.244.1.6/16']);
    ipam.releaseAddress(poolId, '10.244.1.4');
    ipam.releaseAddress(poolId, '10.244.1.3');
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.3/16');
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.4/16');
  });

  test('static --ip: inside the subnet honoured; outside, taken, gateway, network, broadcast refused', (t) => {
    const { ipam, store } = setup(t);
    const { poolId } = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    assert.equal(ipam.requestAddress(poolId, '10.244.1.77', false), '10.244.1.77/16');
    assert.deepEqual(stored(store), ['10.244.1.77']);
    assert.throws(() => ipam.requestAddress(poolId, '10.244.1.77', false), (err: unknown) => err instanceof ConflictError && /already in use/.test(err.message));
    assert.throws(() => ipam.requestAddress(poolId, '10.244.1.1', false), (err: unknown) => err instanceof ConflictError && /gateway/.test(err.message));
    for (const a of ['10.244.2.5', '10.244.1.0', '10.244.1.255', '192.168.1.1']) {
      assert.throws(
        () => ipam.requestAddress(poolId, a, false),
        (err: unknown) => err instanceof InvalidOptionError && err.message.includes(a) && err.message.includes('10.244.1.0/24'),
        a,
      );
    }
    assert.throws(() => ipam.requestAddress(poolId, 'banana', false), (err: unknown) => err instanceof InvalidOptionError && /"banana" is not an IPv4 address/.test(err.message));
    assert.throws(() => ipam.requestAddress(poolId, '10.244.1.300', false), InvalidOptionError);
    assert.deepEqual(stored(store), ['10.244.1.77'], 'refusals stored nothing');
    // The automatic allocator skips the static address.
    for (let i = 2; i < 77; i++) ipam.requestAddress(poolId, '', false);
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.78/16');
  });

  test('gateway request: right or no address gives the gateway; a wrong one is refused', (t) => {
    const { ipam, store } = setup(t);
    const { poolId } = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    assert.equal(ipam.requestAddress(poolId, '10.244.1.1', true), '10.244.1.1/16');
    assert.equal(ipam.requestAddress(poolId, '', true), '10.244.1.1/16');
    assert.throws(
      () => ipam.requestAddress(poolId, '10.244.1.254', true),
      (err: unknown) => err instanceof InvalidOptionError && /--gateway 10\.244\.1\.254/.test(err.message) && /10\.244\.1\.1/.test(err.message),
    );
    assert.deepEqual(store.listAddresses(), [], 'the gateway is not a stored allocation');
    assert.equal(ipam.releaseAddress(poolId, '10.244.1.1'), false, 'the gateway cannot be released');
  });

  test('requests on an unknown pool fail with NotFound', (t) => {
    const { ipam } = setup(t);
    assert.throws(() => ipam.requestAddress('no-such-pool', '', false), NotFoundError);
  });

  test('releaseAddress of a non-address is refused; of an unknown one is fine', (t) => {
    const { ipam } = setup(t);
    const { poolId } = ipam.requestPool(poolReq());
    assert.throws(() => ipam.releaseAddress(poolId, 'nope'), InvalidOptionError);
    assert.equal(ipam.releaseAddress(poolId, '10.244.1.99'), false);
    assert.equal(ipam.releaseAddress('other', '10.244.1.99'), false);
  });

  test('aux addresses are reserved: never handed out', (t) => {
    const { ipam, store } = setup(t, { PODNET_NODE_SUBNET: '10.244.1.0/29' });
    const { poolId } = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    ipam.reserve(poolId, [parseIpv4('10.244.1.3'), parseIpv4('10.244.1.5'), parseIpv4('10.244.9.9')]);
    assert.deepEqual(store.listAddresses().map((a) => [ip(a.address), a.kind]).sort(), [['10.244.1.3', 'aux'], ['10.244.1.5', 'aux']], 'outside the node subnet: ignored');
    const got = [1, 2, 3].map(() => ipam.requestAddress(poolId, '', false));
    assert.deepEqual(got, ['10.244.1.2/16', '10.244.1.4/16', '10.244.1.6/16']);
    assert.throws(() => ipam.requestAddress(poolId, '', false), ExhaustedError);
    assert.throws(() => ipam.requestAddress(poolId, '10.244.1.5', false), ConflictError);
  });

  test('adopt records an address in use once', (t) => {
    const { ipam, store } = setup(t);
    const { poolId } = ipam.requestPool(poolReq());
    ipam.adopt(poolId, parseIpv4('10.244.1.2'));
    ipam.adopt(poolId, parseIpv4('10.244.1.2'));
    assert.deepEqual(stored(store), ['10.244.1.2']);
    assert.equal(ipam.inUse(poolId), 1);
    assert.equal(ipam.requestAddress(poolId, '', false), '10.244.1.3/16');
  });
});

describe('ipam: reclaim', () => {
  test('an address without an endpoint, older than the grace period, is reclaimed and then reusable', (t) => {
    const { ipam, store, clock } = setup(t);
    const { poolId } = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    ipam.requestAddress(poolId, '10.244.1.2', false);
    clock.t += GRACE;
    assert.equal(ipam.reclaim(), 0, 'not older than the grace period yet');
    clock.t += 1;
    assert.equal(ipam.reclaim(), 1);
    assert.deepEqual(store.listAddresses(), []);
    assert.equal(ipam.inUse(poolId), 0);
    assert.equal(ipam.requestAddress(poolId, '10.244.1.2', false), '10.244.1.2/16', 'reusable');
  });

  test('an address with an endpoint is not reclaimed; aux addresses never are', (t) => {
    const { ipam, store, clock } = setup(t);
    const { poolId } = ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    ipam.requestAddress(poolId, '10.244.1.2', false);
    ipam.requestAddress(poolId, '10.244.1.3', false);
    ipam.reserve(poolId, [parseIpv4('10.244.1.4')]);
    store.putNetwork({ networkId: 'n'.repeat(64), internal: false, mtu: 1458, createdAt: clock.t, poolId });
    store.putEndpoint({ endpointId: 'e'.repeat(64), networkId: 'n'.repeat(64), address: parseIpv4('10.244.1.3'), mac: '02:42:0a:f4:01:03', hostVeth: null, peerVeth: null, createdAt: clock.t, state: 'bound', stateSince: clock.t, sandboxKey: '' });
    store.bindAddress(parseIpv4('10.244.1.3'), 'e'.repeat(64));
    clock.t += GRACE * 10;
    assert.equal(ipam.reclaim(), 1);
    assert.deepEqual(stored(store), ['10.244.1.3', '10.244.1.4']);
    assert.equal(ipam.reclaim(), 0);
    assert.throws(() => ipam.requestAddress(poolId, '10.244.1.3', false), ConflictError);
    assert.throws(() => ipam.requestAddress(poolId, '10.244.1.4', false), ConflictError);
  });

  test('an exhausted pool reclaims stale addresses before giving up', (t) => {
    const { ipam, store, clock } = setup(t, { PODNET_NODE_SUBNET: '10.244.1.0/29' });
    const { poolId } = ipam.requestPool(poolReq());
    for (let i = 0; i < 5; i++) ipam.requestAddress(poolId, '', false);
    assert.throws(() => ipam.requestAddress(poolId, '', false), ExhaustedError, 'all within the grace period');
    clock.t += GRACE + 1;
    assert.match(ipam.requestAddress(poolId, '', false), /^10\.244\.1\.[2-6]\/16$/);
    assert.equal(store.listAddresses().length, 1, 'the five stale ones were reclaimed, one handed out');
  });
});

describe('ipam: state survives a restart', () => {
  test('a new Ipam over the reopened store hands out no duplicates', (t) => {
    const e = setup(t, { PODNET_NODE_SUBNET: '10.244.1.0/28' });
    const { poolId } = e.ipam.requestPool(poolReq({ pool: '10.244.0.0/16' }));
    const before = [0, 1, 2, 3, 4].map(() => e.ipam.requestAddress(poolId, '', false));
    e.ipam.requestAddress(poolId, '10.244.1.12', false);
    e.ipam.reserve(poolId, [parseIpv4('10.244.1.13')]);
    e.restart();
    assert.deepEqual(e.store.listPools().map((p) => [p.poolId, p.pool]), [[poolId, '10.244.0.0/16']]);
    assert.equal(e.ipam.inUse(poolId), 7);
    const after: string[] = [];
    for (;;) {
      try {
        after.push(e.ipam.requestAddress(poolId, '', false));
      } catch (err) {
        assert.ok(err instanceof ExhaustedError);
        break;
      }
    }
    assert.equal(after.length, 13 - 7);
    const all = new Set([...before, ...after, '10.244.1.12/16', '10.244.1.13/16']);
    assert.equal(all.size, 13, 'no address handed out twice');
    assert.throws(() => e.ipam.requestAddress(poolId, '10.244.1.12', false), ConflictError);
    assert.throws(() => e.ipam.requestPool(poolReq()), ConflictError, 'the pool is still there (within the grace period)');
  });
});
