/**
 * resolveCluster: settings (loadSettings, which records the explicit PODNET_* names) merged with a
 * cluster file. Which entry is this node, what the node runs with, and which local settings may
 * not contradict the file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VNI, resolveCluster, type LocalIdentity } from '../../src/cluster/cluster-config';
import { parseClusterFile, type ClusterSpec } from '../../src/cluster/cluster-file';
import { SettingsError } from '../../src/errors';
import { formatCidr, formatIpv4, parseIpv4 } from '../../src/model/cidr';
import { loadSettings, type Settings } from '../../src/settings';

const NODES = [
  { name: 'node1', ip: '192.0.2.11', subnet: '10.244.1.0/24' },
  { name: 'node2', ip: '192.0.2.12', subnet: '10.244.2.0/24' },
  { name: 'node3', ip: '192.0.2.13', subnet: '10.244.4.0/23' },
];

function spec(over: Record<string, unknown> = {}): ClusterSpec {
  return parseClusterFile(JSON.stringify({ clusterCIDR: '10.244.0.0/16', nodes: NODES, ...over }));
}

/** A host with these IPv4 addresses and this name. */
function host(addresses: string[] = [], hostname = 'elsewhere'): LocalIdentity {
  return { addresses: new Set(addresses.map(parseIpv4)), hostname };
}

/** node2's host, found by its underlay address. */
const NODE2_HOST = host(['127.0.0.1', '192.0.2.12', '172.17.0.1'], 'localhost');

function base(env: Record<string, string> = {}): Settings {
  return loadSettings(env);
}

/** Asserts resolveCluster refuses with a one-line SettingsError containing every needle. */
function refuses(b: Settings, s: ClusterSpec, local: LocalIdentity, ...needles: (string | RegExp)[]): void {
  assert.throws(
    () => resolveCluster(b, s, local),
    (err: unknown) => {
      assert.ok(err instanceof SettingsError, `expected a SettingsError, got ${String(err)}`);
      assert.equal(err.code, 'PODNET_ERR_SETTINGS');
      for (const n of needles) {
        if (typeof n === 'string') assert.ok(err.message.includes(n), `message should contain ${JSON.stringify(n)}: ${err.message}`);
        else assert.match(err.message, n);
      }
      assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
      return true;
    },
  );
}

describe('cluster/cluster-config: no cluster file', () => {
  test('single node: the settings unchanged, vni 1, no self, no peers', () => {
    const b = base({ PODNET_TUNNEL: 'vxlan', PODNET_NODE_SUBNET: '10.244.9.0/24' });
    const c = resolveCluster(b, undefined, host());
    assert.equal(c.settings, b, 'the very same settings object');
    assert.equal(formatCidr(c.settings.nodeSubnet), '10.244.9.0/24');
    assert.equal(c.settings.tunnel, 'vxlan');
    assert.equal(c.vni, 1);
    assert.equal(DEFAULT_VNI, 1);
    assert.equal(c.self, undefined);
    assert.deepEqual(c.peers, []);
  });

  test('single node: PODNET_NODE_SUBNET must lie inside the cluster CIDR (checked here, not by loadSettings)', () => {
    const outside = base({ PODNET_NODE_SUBNET: '10.100.7.0/24' });
    assert.throws(
      () => resolveCluster(outside, undefined, host()),
      (err: unknown) => {
        assert.ok(err instanceof SettingsError, `expected a SettingsError, got ${String(err)}`);
        assert.equal(err.code, 'PODNET_ERR_SETTINGS');
        assert.equal(err.message, 'PODNET_NODE_SUBNET="10.100.7.0/24" is invalid: it must lie inside the cluster CIDR 10.244.0.0/16');
        return true;
      },
    );
    // With a cluster file, the file's clusterCIDR is the one that counts.
    const s = parseClusterFile(JSON.stringify({ clusterCIDR: '10.96.0.0/12', nodes: [{ name: 'node2', ip: '192.0.2.12', subnet: '10.100.7.0/24' }] }));
    assert.equal(formatCidr(resolveCluster(base(), s, NODE2_HOST).settings.nodeSubnet), '10.100.7.0/24');
  });
});

describe('cluster/cluster-config: finding this node', () => {
  test('PODNET_NODE_NAME picks the entry, whatever the addresses and host name say', () => {
    const c = resolveCluster(base({ PODNET_NODE_NAME: 'node3' }), spec(), host(['192.0.2.11'], 'node2'));
    assert.equal(c.self?.name, 'node3');
    assert.deepEqual(c.peers.map((p) => p.name), ['node1', 'node2']);
  });

  test('PODNET_NODE_NAME that is not in the file is an error naming it and the file', () => {
    refuses(
      base({ PODNET_NODE_NAME: 'node9', PODNET_CLUSTER_FILE: '/srv/podnet/cluster.json' }),
      spec(),
      NODE2_HOST,
      'PODNET_NODE_NAME=node9',
      '/srv/podnet/cluster.json',
    );
  });

  test('else the entry whose ip is on a local interface, before the host name', () => {
    const c = resolveCluster(base(), spec(), host(['10.0.0.5', '192.0.2.12'], 'node1'));
    assert.equal(c.self?.name, 'node2');
    assert.deepEqual(c.peers.map((p) => p.name), ['node1', 'node3']);
  });

  test('two entries with an ip of this host: an error naming both and PODNET_NODE_NAME', () => {
    refuses(base(), spec(), host(['192.0.2.11', '192.0.2.13']), 'node1', 'node3', 'PODNET_NODE_NAME');
  });

  test('two local entries are fine when PODNET_NODE_NAME says which', () => {
    const c = resolveCluster(base({ PODNET_NODE_NAME: 'node3' }), spec(), host(['192.0.2.11', '192.0.2.13']));
    assert.equal(c.self?.name, 'node3');
  });

  test('else the entry named like the host', () => {
    const c = resolveCluster(base(), spec(), host(['10.0.0.5'], 'node3'));
    assert.equal(c.self?.name, 'node3');
    assert.deepEqual(c.peers.map((p) => p.name), ['node1', 'node2']);
  });

  test('else a clear error naming the file, the host name and its addresses', () => {
    refuses(
      base({ PODNET_CLUSTER_FILE: '/srv/podnet/cluster.json' }),
      spec(),
      host(['10.0.0.5', '198.51.100.7'], 'node9'),
      '/srv/podnet/cluster.json',
      'node9',
      '10.0.0.5',
      '198.51.100.7',
      'PODNET_NODE_NAME',
    );
    refuses(base(), spec(), host([], 'node9'), '/etc/podnet/cluster.json', /addresses none/);
  });
});

describe('cluster/cluster-config: what this node runs with', () => {
  test('clusterCIDR, subnet, gateway and name from the file; the tunnel parameters from the file', () => {
    const s = parseClusterFile(
      JSON.stringify({
        clusterCIDR: '10.96.0.0/12',
        tunnel: 'vxlan',
        topology: 'mesh',
        vxlanPort: 4790,
        vni: 42,
        nodes: [
          { name: 'a', ip: '192.0.2.11', subnet: '10.96.0.0/24' },
          { name: 'b', ip: '192.0.2.12', subnet: '10.100.8.0/22' },
        ],
      }),
    );
    const b = base();
    const c = resolveCluster(b, s, NODE2_HOST);
    assert.equal(c.self?.name, 'b');
    assert.equal(formatCidr(c.settings.clusterCidr), '10.96.0.0/12');
    assert.equal(formatCidr(c.settings.nodeSubnet), '10.100.8.0/22');
    assert.equal(formatIpv4(c.settings.gateway), '10.100.8.1', 'the first address of the node subnet');
    assert.equal(c.settings.nodeName, 'b');
    assert.equal(c.settings.tunnel, 'vxlan');
    assert.equal(c.settings.topology, 'mesh');
    assert.equal(c.settings.vxlanPort, 4790);
    assert.equal(c.vni, 42);
    assert.deepEqual(c.peers.map((p) => [p.name, formatIpv4(p.ip), formatCidr(p.subnet)]), [['a', '192.0.2.11', '10.96.0.0/24']]);
    // Everything the file does not speak of stays as it was.
    const { clusterCidr: _c, nodeSubnet: _n, gateway: _g, nodeName: _nn, tunnel: _t, topology: _tp, vxlanPort: _v, ...rest } = c.settings;
    const { clusterCidr: _c2, nodeSubnet: _n2, gateway: _g2, nodeName: _nn2, tunnel: _t2, topology: _tp2, vxlanPort: _v2, ...baseRest } = b;
    assert.deepEqual(rest, baseRest);
    assert.equal(formatCidr(b.nodeSubnet), '10.244.1.0/24', 'the base settings are not modified');
  });

  test('where the file omits tunnel, topology, vxlanPort: the defaults; vni defaults to 1', () => {
    const c = resolveCluster(base(), spec(), NODE2_HOST);
    assert.equal(c.settings.tunnel, 'gre');
    assert.equal(c.settings.topology, 'flow');
    assert.equal(c.settings.vxlanPort, 8472);
    assert.equal(c.vni, 1);
    assert.equal(formatCidr(c.settings.nodeSubnet), '10.244.2.0/24');
    assert.equal(formatIpv4(c.settings.gateway), '10.244.2.1');
  });

  test('where the file omits them: the explicit local settings', () => {
    const c = resolveCluster(base({ PODNET_TUNNEL: 'vxlan', PODNET_TOPOLOGY: 'mesh', PODNET_VXLAN_PORT: '4790' }), spec(), NODE2_HOST);
    assert.equal(c.settings.tunnel, 'vxlan');
    assert.equal(c.settings.topology, 'mesh');
    assert.equal(c.settings.vxlanPort, 4790);
  });

  test('a file value different from an unset (default) setting simply wins', () => {
    const c = resolveCluster(base({ PODNET_TUNNEL: '' }), spec({ tunnel: 'vxlan', topology: 'mesh', vxlanPort: 4790, vni: 0 }), NODE2_HOST);
    assert.equal(c.settings.tunnel, 'vxlan');
    assert.equal(c.settings.topology, 'mesh');
    assert.equal(c.settings.vxlanPort, 4790);
    assert.equal(c.vni, 0, 'vni 0 is a value, not "absent"');
  });
});

describe('cluster/cluster-config: explicit settings may not contradict the file', () => {
  const conflicts: [string, Record<string, string>, Record<string, unknown>][] = [
    ['PODNET_TUNNEL', { PODNET_TUNNEL: 'vxlan' }, { tunnel: 'gre' }],
    ['PODNET_TOPOLOGY', { PODNET_TOPOLOGY: 'mesh' }, { topology: 'flow' }],
    ['PODNET_VXLAN_PORT', { PODNET_VXLAN_PORT: '4789' }, { vxlanPort: 8472 }],
    ['PODNET_CLUSTER_CIDR', { PODNET_CLUSTER_CIDR: '10.0.0.0/8' }, {}],
    ['PODNET_NODE_SUBNET', { PODNET_NODE_SUBNET: '10.244.1.0/24' }, {}],
  ];
  for (const [variable, env, over] of conflicts) {
    test(`${variable}: a different explicit value is a SettingsError naming the variable and the file`, () => {
      refuses(base({ ...env, PODNET_CLUSTER_FILE: '/srv/cluster.json' }), spec(over), NODE2_HOST, `${variable}=`, '/srv/cluster.json', /contradicts/);
    });
  }

  test('the same values set explicitly are fine', () => {
    const c = resolveCluster(
      base({
        PODNET_TUNNEL: 'vxlan',
        PODNET_TOPOLOGY: 'mesh',
        PODNET_VXLAN_PORT: '4790',
        PODNET_CLUSTER_CIDR: '10.244.0.0/16',
        PODNET_NODE_SUBNET: '10.244.2.0/24',
        PODNET_NODE_NAME: 'node2',
      }),
      spec({ tunnel: 'vxlan', topology: 'mesh', vxlanPort: 4790 }),
      host(),
    );
    assert.equal(c.self?.name, 'node2');
    assert.equal(c.settings.tunnel, 'vxlan');
    assert.equal(c.settings.topology, 'mesh');
    assert.equal(c.settings.vxlanPort, 4790);
  });

  test('an explicit PODNET_NODE_SUBNET of another entry is a conflict (it is this node that counts)', () => {
    refuses(base({ PODNET_NODE_SUBNET: '10.244.4.0/23' }), spec(), NODE2_HOST, 'PODNET_NODE_SUBNET=10.244.4.0/23', "node2's subnet 10.244.2.0/24");
  });

  test('an empty variable is not explicit', () => {
    const c = resolveCluster(base({ PODNET_TUNNEL: '', PODNET_CLUSTER_CIDR: '' }), spec({ tunnel: 'vxlan', clusterCIDR: '10.240.0.0/12' }), NODE2_HOST);
    assert.equal(c.settings.tunnel, 'vxlan');
    assert.equal(formatCidr(c.settings.clusterCidr), '10.240.0.0/12');
  });

  test('an explicit PODNET_NODE_SUBNET that agrees with a file whose clusterCIDR is not the default starts', () => {
    const s = parseClusterFile(
      JSON.stringify({ clusterCIDR: '10.96.0.0/12', nodes: [{ name: 'node2', ip: '192.0.2.12', subnet: '10.100.7.0/24' }] }),
    );
    const c = resolveCluster(base({ PODNET_NODE_SUBNET: '10.100.7.0/24' }), s, NODE2_HOST);
    assert.equal(formatCidr(c.settings.nodeSubnet), '10.100.7.0/24');
    assert.equal(formatCidr(c.settings.clusterCidr), '10.96.0.0/12');
    assert.equal(formatIpv4(c.settings.gateway), '10.100.7.1');
    assert.equal(c.self?.name, 'node2');
  });
});
