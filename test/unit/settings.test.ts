import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SettingsError } from '../../src/errors';
import { formatCidr, formatIpv4 } from '../../src/model/cidr';
import { resolveCluster } from '../../src/cluster/cluster-config';
import { SETTINGS, checkSingleNode, loadSettings } from '../../src/settings';

/** Asserts loadSettings refuses env with a SettingsError whose message names `name` and matches `re`. */
function refuses(env: Record<string, string>, name: string, re?: RegExp): void {
  refusesWith(() => loadSettings(env), env, name, re);
}

/** Asserts `fn` throws a one-line SettingsError whose message names `name` and matches `re`. */
function refusesWith(fn: () => unknown, env: Record<string, string>, name: string, re?: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof SettingsError, `expected a SettingsError, got ${String(err)}`);
      assert.equal(err.code, 'PODNET_ERR_SETTINGS');
      assert.ok(err.message.includes(name), `message should name ${name}: ${err.message}`);
      if (re) assert.match(err.message, re);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
    JSON.stringify(env),
  );
}

describe('settings: defaults', () => {
  test('an empty environment gives the documented defaults', () => {
    const s = loadSettings({});
    assert.equal(formatCidr(s.clusterCidr), '10.244.0.0/16');
    assert.equal(formatCidr(s.nodeSubnet), '10.244.1.0/24');
    assert.equal(formatIpv4(s.gateway), '10.244.1.1');
    assert.equal(s.nodeName, undefined);
    assert.equal(s.clusterFile, '/etc/podnet/cluster.json');
    assert.equal(s.stateDir, '/var/lib/podnet');
    assert.equal(s.socket, '/run/docker/plugins/podnet.sock');
    assert.equal(s.bridge, 'kbr0');
    assert.equal(s.ovsBridge, 'obr0');
    assert.equal(s.tunnel, 'gre');
    assert.equal(s.topology, 'flow');
    assert.equal(s.vxlanPort, 8472);
    assert.equal(s.ovsDatapath, 'auto');
    assert.equal(s.underlayIface, undefined);
    assert.equal(s.mtu, undefined);
    assert.equal(s.infraImage, 'registry.k8s.io/pause:3.10');
    assert.equal(s.infraCommand, undefined);
    assert.equal(s.addressGraceMs, 60_000);
  });

  test('variables outside PODNET_* are ignored; an empty value means the default', () => {
    const s = loadSettings({ PATH: '/usr/bin', HOME: '/root', DEBUG: 'podnet:*', PODNET_TUNNEL: '', PODNET_MTU: '' });
    assert.equal(s.tunnel, 'gre');
    assert.equal(s.mtu, undefined);
  });

  test('every variable is read', () => {
    const s = loadSettings({
      PODNET_CLUSTER_CIDR: '10.96.0.0/12',
      PODNET_NODE_SUBNET: '10.100.7.0/24',
      PODNET_NODE_NAME: 'node7',
      PODNET_CLUSTER_FILE: '/srv/cluster.json',
      PODNET_STATE_DIR: '/srv/state',
      PODNET_SOCKET: '/run/podnet-test.sock',
      PODNET_BRIDGE: 'br-pods',
      PODNET_OVS_BRIDGE: 'ovs_0.1',
      PODNET_TUNNEL: 'vxlan',
      PODNET_TOPOLOGY: 'mesh',
      PODNET_VXLAN_PORT: '4789',
      PODNET_OVS_DATAPATH: 'netdev',
      PODNET_UNDERLAY_IFACE: 'eth1',
      PODNET_MTU: '1400',
      PODNET_INFRA_IMAGE: 'busybox:1.36',
      PODNET_INFRA_COMMAND: 'sleep infinity',
      PODNET_ADDRESS_GRACE_SECONDS: '5',
    });
    assert.equal(formatCidr(s.clusterCidr), '10.96.0.0/12');
    assert.equal(formatCidr(s.nodeSubnet), '10.100.7.0/24');
    assert.equal(formatIpv4(s.gateway), '10.100.7.1');
    assert.equal(s.nodeName, 'node7');
    assert.equal(s.clusterFile, '/srv/cluster.json');
    assert.equal(s.stateDir, '/srv/state');
    assert.equal(s.socket, '/run/podnet-test.sock');
    assert.equal(s.bridge, 'br-pods');
    assert.equal(s.ovsBridge, 'ovs_0.1');
    assert.equal(s.tunnel, 'vxlan');
    assert.equal(s.topology, 'mesh');
    assert.equal(s.vxlanPort, 4789);
    assert.equal(s.ovsDatapath, 'netdev');
    assert.equal(s.underlayIface, 'eth1');
    assert.equal(s.mtu, 1400);
    assert.equal(s.infraImage, 'busybox:1.36');
    assert.equal(s.infraCommand, 'sleep infinity');
    assert.equal(s.addressGraceMs, 5000);
  });

  test('SETTINGS holds every variable of DESIGN.md, each documented', () => {
    for (const name of [
      'PODNET_BRIDGE', 'PODNET_CLUSTER_CIDR', 'PODNET_CLUSTER_FILE', 'PODNET_INFRA_COMMAND', 'PODNET_INFRA_IMAGE', 'PODNET_MTU',
      'PODNET_NODE_NAME', 'PODNET_NODE_SUBNET', 'PODNET_OVS_BRIDGE', 'PODNET_OVS_DATAPATH', 'PODNET_SOCKET', 'PODNET_STATE_DIR',
      'PODNET_TOPOLOGY', 'PODNET_TUNNEL', 'PODNET_UNDERLAY_IFACE', 'PODNET_VXLAN_PORT', 'PODNET_ADDRESS_GRACE_SECONDS',
    ]) {
      assert.ok(name in SETTINGS, name);
    }
    for (const [name, spec] of Object.entries(SETTINGS)) {
      assert.match(name, /^PODNET_[A-Z_]+$/);
      assert.ok(spec.doc.length > 0, name);
      // Every default is itself a valid value.
      if (spec.default !== undefined) assert.doesNotThrow(() => loadSettings({ [name]: spec.default as string }), name);
    }
  });
});

describe('settings: validation', () => {
  test('an unknown PODNET_* variable is refused, naming it and the known ones', () => {
    refuses({ PODNET_TUNEL: 'gre' }, 'PODNET_TUNEL', /unknown setting PODNET_TUNEL: podnet understands .*PODNET_TUNNEL/);
    refuses({ PODNET_: 'x' }, 'PODNET_');
    refuses({ PODNET_toString: 'x' }, 'PODNET_toString');
  });

  test('cluster CIDR: not a CIDR, host bits, IPv6, too large', () => {
    refuses({ PODNET_CLUSTER_CIDR: 'banana' }, 'PODNET_CLUSTER_CIDR', /"banana".*IPv4 CIDR/);
    refuses({ PODNET_CLUSTER_CIDR: '10.244.0.0' }, 'PODNET_CLUSTER_CIDR');
    refuses({ PODNET_CLUSTER_CIDR: '10.244.1.0/16' }, 'PODNET_CLUSTER_CIDR', /host bits/);
    refuses({ PODNET_CLUSTER_CIDR: 'fd00::/64' }, 'PODNET_CLUSTER_CIDR');
    refuses({ PODNET_CLUSTER_CIDR: '10.244.0.0/33' }, 'PODNET_CLUSTER_CIDR');
    refuses({ PODNET_CLUSTER_CIDR: '0.0.0.0/0' }, 'PODNET_CLUSTER_CIDR', /\/8 or longer/);
  });

  test('node subnet: not a CIDR, host bits, smaller than /29', () => {
    refuses({ PODNET_NODE_SUBNET: '10.244.1.0' }, 'PODNET_NODE_SUBNET');
    refuses({ PODNET_NODE_SUBNET: '10.244.1.1/24' }, 'PODNET_NODE_SUBNET', /host bits/);
    refuses({ PODNET_NODE_SUBNET: '10.244.1.0/30' }, 'PODNET_NODE_SUBNET', /\/29 or larger/);
    refuses({ PODNET_NODE_SUBNET: '10.244.1.1/32' }, 'PODNET_NODE_SUBNET');
    assert.equal(formatCidr(loadSettings({ PODNET_NODE_SUBNET: '10.244.1.8/29' }).nodeSubnet), '10.244.1.8/29');
    assert.equal(formatIpv4(loadSettings({ PODNET_NODE_SUBNET: '10.244.1.16/28' }).gateway), '10.244.1.17');
  });

  test('node subnet outside (or larger than) the cluster CIDR: loadSettings leaves that to the cluster file or checkSingleNode', () => {
    // A cluster file may set both, so loadSettings cannot know yet which cluster CIDR counts.
    assert.equal(formatCidr(loadSettings({ PODNET_NODE_SUBNET: '10.245.1.0/24' }).nodeSubnet), '10.245.1.0/24');
    assert.equal(formatCidr(loadSettings({ PODNET_NODE_SUBNET: '10.0.0.0/8' }).nodeSubnet), '10.0.0.0/8');
    const s = loadSettings({ PODNET_CLUSTER_CIDR: '10.96.0.0/12' });
    assert.equal(formatCidr(s.clusterCidr), '10.96.0.0/12');
    assert.equal(formatCidr(s.nodeSubnet), '10.244.1.0/24');
    const t = loadSettings({ PODNET_CLUSTER_CIDR: '10.96.0.0/12', PODNET_NODE_SUBNET: '10.100.7.0/24' });
    assert.equal(formatCidr(t.nodeSubnet), '10.100.7.0/24');
  });

  test('tunnel, topology and datapath accept only their values, and list them', () => {
    refuses({ PODNET_TUNNEL: 'geneve' }, 'PODNET_TUNNEL', /allowed values are gre, vxlan/);
    refuses({ PODNET_TUNNEL: 'GRE' }, 'PODNET_TUNNEL');
    refuses({ PODNET_TOPOLOGY: 'star' }, 'PODNET_TOPOLOGY', /allowed values are flow, mesh/);
    refuses({ PODNET_OVS_DATAPATH: 'kernel' }, 'PODNET_OVS_DATAPATH', /allowed values are auto, system, netdev/);
    assert.equal(loadSettings({ PODNET_OVS_DATAPATH: 'system' }).ovsDatapath, 'system');
    assert.equal(loadSettings({ PODNET_TOPOLOGY: 'mesh' }).topology, 'mesh');
  });

  test('VXLAN port: an integer from 1 to 65535', () => {
    for (const v of ['0', '65536', '-1', '84.72', 'abc', '0x2118', ' 8472']) {
      refuses({ PODNET_VXLAN_PORT: v }, 'PODNET_VXLAN_PORT', /integer from 1 to 65535/);
    }
    assert.equal(loadSettings({ PODNET_VXLAN_PORT: '1' }).vxlanPort, 1);
    assert.equal(loadSettings({ PODNET_VXLAN_PORT: '65535' }).vxlanPort, 65535);
  });

  test('MTU: an integer from 576 to 65535', () => {
    for (const v of ['575', '65536', '0', '1500.5', 'jumbo', '-1500']) {
      refuses({ PODNET_MTU: v }, 'PODNET_MTU', /integer from 576 to 65535/);
    }
    assert.equal(loadSettings({ PODNET_MTU: '576' }).mtu, 576);
    assert.equal(loadSettings({ PODNET_MTU: '65535' }).mtu, 65535);
  });

  test('address grace: whole seconds from 1 to 86400', () => {
    for (const v of ['0', '86401', '1.5', '60s', '-5']) {
      refuses({ PODNET_ADDRESS_GRACE_SECONDS: v }, 'PODNET_ADDRESS_GRACE_SECONDS', /integer from 1 to 86400/);
    }
    assert.equal(loadSettings({ PODNET_ADDRESS_GRACE_SECONDS: '1' }).addressGraceMs, 1000);
    assert.equal(loadSettings({ PODNET_ADDRESS_GRACE_SECONDS: '86400' }).addressGraceMs, 86_400_000);
  });

  test('paths must be absolute', () => {
    for (const name of ['PODNET_CLUSTER_FILE', 'PODNET_STATE_DIR', 'PODNET_SOCKET']) {
      refuses({ [name]: 'relative/path' }, name, /absolute path/);
      refuses({ [name]: './x' }, name, /absolute path/);
    }
  });

  test('interface names: 1-15 of letters, digits, "_", "-", "."', () => {
    for (const name of ['PODNET_BRIDGE', 'PODNET_OVS_BRIDGE', 'PODNET_UNDERLAY_IFACE']) {
      refuses({ [name]: 'averyveryverylongname' }, name, /interface name/);
      refuses({ [name]: 'br 0' }, name, /interface name/);
      refuses({ [name]: 'br/0' }, name, /interface name/);
      refuses({ [name]: 'br:0' }, name, /interface name/);
    }
    assert.equal(loadSettings({ PODNET_BRIDGE: 'abcdefghijklmno' }).bridge, 'abcdefghijklmno', '15 characters fit');
  });

  test('"." and ".." are refused as interface names (Linux refuses them)', () => {
    refuses({ PODNET_BRIDGE: '.' }, 'PODNET_BRIDGE');
    refuses({ PODNET_BRIDGE: '..' }, 'PODNET_BRIDGE');
  });

  test('the value is quoted in the message', () => {
    refuses({ PODNET_TUNNEL: 'ipip' }, 'PODNET_TUNNEL', /PODNET_TUNNEL="ipip" is invalid/);
  });
});

describe('settings: checkSingleNode (no cluster file)', () => {
  const outside: [Record<string, string>, RegExp][] = [
    [{ PODNET_NODE_SUBNET: '10.245.1.0/24' }, /PODNET_NODE_SUBNET="10\.245\.1\.0\/24" is invalid: it must lie inside the cluster CIDR 10\.244\.0\.0\/16/],
    [{ PODNET_NODE_SUBNET: '10.0.0.0/8' }, /PODNET_NODE_SUBNET="10\.0\.0\.0\/8" is invalid: it must lie inside the cluster CIDR 10\.244\.0\.0\/16/],
    [{ PODNET_CLUSTER_CIDR: '10.96.0.0/12' }, /PODNET_NODE_SUBNET="10\.244\.1\.0\/24" is invalid: it must lie inside the cluster CIDR 10\.96\.0\.0\/12/],
    [{ PODNET_CLUSTER_CIDR: '10.244.0.0/24', PODNET_NODE_SUBNET: '10.244.0.0/23' }, /inside the cluster CIDR 10\.244\.0\.0\/24/],
  ];

  test('a node subnet outside the cluster CIDR, or larger than it, is refused naming PODNET_NODE_SUBNET and the cluster CIDR', () => {
    for (const [env, re] of outside) refusesWith(() => checkSingleNode(loadSettings(env)), env, 'PODNET_NODE_SUBNET', re);
  });

  test('resolveCluster with no cluster file runs the same check', () => {
    const local = { addresses: new Set<number>(), hostname: 'node1' };
    for (const [env, re] of outside) refusesWith(() => resolveCluster(loadSettings(env), undefined, local), env, 'PODNET_NODE_SUBNET', re);
  });

  test('a node subnet inside the cluster CIDR, up to all of it, passes', () => {
    for (const env of [
      {},
      { PODNET_NODE_SUBNET: '10.244.1.8/29' },
      { PODNET_NODE_SUBNET: '10.244.255.0/24' },
      { PODNET_NODE_SUBNET: '10.244.0.0/16' },
      { PODNET_CLUSTER_CIDR: '10.96.0.0/12', PODNET_NODE_SUBNET: '10.100.7.0/24' },
    ]) {
      assert.equal(checkSingleNode(loadSettings(env)), undefined, JSON.stringify(env));
    }
  });
});
