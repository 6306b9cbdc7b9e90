/**
 * The cluster file at scale: a large file must not block the plugin (validation O(n log n), a
 * size limit, one validation per change), and overlapping reloads end with the newest content.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterFileError, MAX_CLUSTER_FILE_BYTES, parseClusterFile, readClusterFileText, type ClusterSpec } from '../../src/cluster/cluster-file';
import { resolveCluster, type LocalIdentity } from '../../src/cluster/cluster-config';
import { ClusterController } from '../../src/cluster/controller';
import type { MembershipSource } from '../../src/cluster/static-file-source';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings } from '../../src/settings';
import { parseCidr, parseIpv4 } from '../../src/model/cidr';
import { tempDir } from './helpers';

/** A valid file of n nodes: 10.x.y.0/24 subnets in 10.0.0.0/8, underlay addresses in 172.16.0.0/12. */
function bigFile(n: number, extra: unknown[] = []): string {
  const nodes: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const s = i + 1;
    const u = i + 1;
    nodes.push({ name: `node${i}`, ip: `172.${16 + (u >>> 16)}.${(u >>> 8) & 255}.${u & 255}`, subnet: `10.${s >>> 8}.${s & 255}.0/24` });
  }
  return JSON.stringify({ clusterCIDR: '10.0.0.0/8', nodes: [...nodes, ...extra] });
}

const NOBODY: LocalIdentity = { addresses: new Set(), hostname: 'nowhere' };

describe('cluster file at scale', () => {
  test('a 10k-node file parses, validates and resolves well under 200 ms', () => {
    const text = bigFile(10_000);
    parseClusterFile(bigFile(10)); // warm the code paths, not the cache
    const started = process.hrtime.bigint();
    const spec = parseClusterFile(text);
    const c = resolveCluster(loadSettings({ PODNET_NODE_NAME: 'node9999' }), spec, NOBODY);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(spec.nodes.length, 10_000);
    assert.equal(c.peers.length, 9_999);
    assert.ok(ms < 200, `took ${ms.toFixed(1)} ms`);
  });

  test('duplicates and overlaps are still found in a large file, naming both entries', () => {
    const dupName = bigFile(5000, [{ name: 'node17', ip: '198.51.100.1', subnet: '10.200.0.0/24' }]);
    assert.throws(() => parseClusterFile(dupName), /nodes\[5000\] \(node17\): name node17 is used twice/);
    const dupIp = bigFile(5000, [{ name: 'extra', ip: '172.16.0.5', subnet: '10.200.0.0/24' }]);
    assert.throws(() => parseClusterFile(dupIp), /nodes\[5000\] \(extra\): ip 172.16.0.5 is also the ip of node4/);
    // A /16 covering node255..node510's /24s (10.1.0.0/24 is node255's subnet).
    const covering = bigFile(5000, [{ name: 'wide', ip: '198.51.100.1', subnet: '10.1.0.0/16' }]);
    assert.throws(() => parseClusterFile(covering), /nodes\[5000\] \(wide\): subnet 10\.1\.0\.0\/16 overlaps node255's 10\.1\.0\.0\/24/);
    // An earlier wide subnet, a later node inside it: reported at the later one.
    const inside = JSON.stringify({
      clusterCIDR: '10.0.0.0/8',
      nodes: [
        { name: 'a', ip: '192.0.2.1', subnet: '10.0.0.0/16' },
        { name: 'b', ip: '192.0.2.2', subnet: '10.9.0.0/24' },
        { name: 'c', ip: '192.0.2.3', subnet: '10.0.200.0/24' },
      ],
    });
    assert.throws(() => parseClusterFile(inside), /nodes\[2\] \(c\): subnet 10\.0\.200\.0\/24 overlaps a's 10\.0\.0\.0\/16/);
  });

  test('the fast address parser agrees with the general one, and leaves the errors to it', () => {
    const one = (ip: string, subnet: string): ClusterSpec =>
      parseClusterFile(JSON.stringify({ clusterCIDR: '10.0.0.0/8', nodes: [{ name: 'a', ip, subnet }] }));
    const n = one('192.00.002.03', '10.1.0.0/16').nodes[0];
    assert.equal(n?.ip, parseIpv4('192.00.002.03'));
    assert.deepEqual(n?.subnet, parseCidr('10.1.0.0/16'));
    assert.throws(() => one('192.0.2.256', '10.1.0.0/24'), /ip: "192.0.2.256" is not an IPv4 address/);
    assert.throws(() => one('192.0.2.1', '10.1.0.1/24'), /has host bits set; did you mean 10\.1\.0\.0\/24\?/);
    assert.throws(() => one('192.0.2.1', '10.1.0.0/33'), /prefix length must be 0-32/);
    assert.throws(() => one('192.0.2.1', ' 10.1.0.0/24x'), /not an IPv4 CIDR/);
  });

  test('a file over the size limit is refused with the limit named, before JSON parsing', () => {
    const text = ' '.repeat(MAX_CLUSTER_FILE_BYTES + 1);
    assert.throws(
      () => parseClusterFile(text),
      (err: unknown) => err instanceof ClusterFileError && /8 MiB/.test(err.message) && !/JSON/.test(err.message),
    );
  });

  test('readClusterFileText refuses a file over the limit without reading it, naming the file and the limit', async () => {
    const t = tempDir();
    try {
      const file = join(t.dir, 'cluster.json');
      writeFileSync(file, Buffer.alloc(MAX_CLUSTER_FILE_BYTES + 10, 0x20));
      await assert.rejects(readClusterFileText(file), (err: unknown) => err instanceof ClusterFileError && err.message.includes(file) && /8 MiB/.test(err.message));
      writeFileSync(file, '{}');
      assert.equal(await readClusterFileText(file), '{}');
      assert.equal(await readClusterFileText(join(t.dir, 'absent.json')), undefined);
    } finally {
      t.remove();
    }
  });

  test('the same text is validated once: a second parse of an unchanged file is a cache hit', () => {
    const text = bigFile(10_000);
    const first = parseClusterFile(text);
    const started = process.hrtime.bigint();
    const again = parseClusterFile(text);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(again, first, 'the very same spec');
    assert.ok(ms < 20, `took ${ms.toFixed(1)} ms`);
    // An invalid text stays invalid on the second look.
    assert.throws(() => parseClusterFile('{'), /not valid JSON/);
    assert.throws(() => parseClusterFile('{'), /not valid JSON/);
  });
});

/** A source whose reads take as long as told: the older read is the slower one. */
class SlowSource implements MembershipSource {
  content: ClusterSpec;
  delays: number[] = [];
  reads = 0;
  constructor(initial: ClusterSpec) {
    this.content = initial;
  }
  async list(): Promise<ClusterSpec> {
    const seen = this.content; // what the file held when this read began
    this.reads++;
    await new Promise((r) => setTimeout(r, this.delays.shift() ?? 0));
    return seen;
  }
  watch(): () => void {
    return () => undefined;
  }
}

function spec(peers: number): ClusterSpec {
  const nodes = [{ name: 'self', ip: '192.0.2.1', subnet: '10.244.1.0/24' }];
  for (let i = 0; i < peers; i++) nodes.push({ name: `p${i}`, ip: `192.0.2.${10 + i}`, subnet: `10.244.${10 + i}.0/24` });
  return parseClusterFile(JSON.stringify({ clusterCIDR: '10.244.0.0/16', nodes }));
}

describe('ClusterController.reload', () => {
  const base = loadSettings({ PODNET_NODE_NAME: 'self' });
  const identity = async (): Promise<LocalIdentity> => NOBODY;

  test('two overlapping reloads end with the newer content, even when the older read finishes last', async () => {
    const source = new SlowSource(spec(1));
    const c = await ClusterController.start(base, source, 'system', identity);
    assert.equal(c.current.peers.length, 1);
    source.content = spec(2);
    source.delays = [60, 0]; // the first read is slow, the second fast
    const older = c.reload();
    await new Promise((r) => setTimeout(r, 5));
    source.content = spec(3);
    const newer = c.reload();
    await Promise.all([older, newer]);
    assert.equal(c.current.peers.length, 3, 'the reload started later wins');
  });

  test('a burst of change events while a reload runs costs one more read, not one per event', async () => {
    const source = new SlowSource(spec(1));
    const c = await ClusterController.start(base, source, 'system', identity);
    const before = source.reads;
    source.delays = [30];
    source.content = spec(2);
    const first = c.reload();
    await new Promise((r) => setTimeout(r, 5));
    source.content = spec(4);
    const rest = [c.reload(), c.reload(), c.reload()];
    const results = await Promise.all([first, ...rest]);
    assert.equal(source.reads - before, 2, 'the running read and one after it');
    assert.equal(c.current.peers.length, 4);
    assert.deepEqual(results, [true, true, true, true]);
  });
});
