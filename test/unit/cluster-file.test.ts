/**
 * The cluster file (DESIGN.md, "The cluster file"): what parses, and every refusal, whose message
 * must name the bad entry so that an administrator can fix it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterFileError, parseClusterFile } from '../../src/cluster/cluster-file';
import { formatCidr, formatIpv4 } from '../../src/model/cidr';

/** The example of DESIGN.md, verbatim. */
const DESIGN_EXAMPLE = `{ "clusterCIDR": "10.244.0.0/16",
    "tunnel": "gre", "topology": "flow", "vxlanPort": 8472, "vni": 1,
    "nodes": [ { "name": "node1", "ip": "192.0.2.11", "subnet": "10.244.1.0/24" },
               { "name": "node2", "ip": "192.0.2.12", "subnet": "10.244.2.0/24" } ] }`;

const NODE1 = { name: 'node1', ip: '192.0.2.11', subnet: '10.244.1.0/24' };
const NODE2 = { name: 'node2', ip: '192.0.2.12', subnet: '10.244.2.0/24' };

/** A minimal valid file with `over` merged in (a key set to undefined is left out). */
function file(over: Record<string, unknown> = {}): string {
  return JSON.stringify({ clusterCIDR: '10.244.0.0/16', nodes: [NODE1, NODE2], ...over });
}

/** A file whose nodes are `nodes`. */
function withNodes(...nodes: unknown[]): string {
  return file({ nodes });
}

/** Asserts the text is refused with a one-line ClusterFileError that contains every needle. */
function refuses(text: string, ...needles: (string | RegExp)[]): void {
  assert.throws(
    () => parseClusterFile(text),
    (err: unknown) => {
      assert.ok(err instanceof ClusterFileError, `expected a ClusterFileError, got ${String(err)}`);
      for (const n of needles) {
        if (typeof n === 'string') assert.ok(err.message.includes(n), `message should contain ${JSON.stringify(n)}: ${err.message}`);
        else assert.match(err.message, n);
      }
      assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
      return true;
    },
    text,
  );
}

describe('cluster/cluster-file: valid files', () => {
  test('the DESIGN.md example', () => {
    const spec = parseClusterFile(DESIGN_EXAMPLE);
    assert.equal(formatCidr(spec.clusterCidr), '10.244.0.0/16');
    assert.equal(spec.tunnel, 'gre');
    assert.equal(spec.topology, 'flow');
    assert.equal(spec.vxlanPort, 8472);
    assert.equal(spec.vni, 1);
    assert.deepEqual(
      spec.nodes.map((n) => [n.name, formatIpv4(n.ip), n.ipText, formatCidr(n.subnet)]),
      [
        ['node1', '192.0.2.11', '192.0.2.11', '10.244.1.0/24'],
        ['node2', '192.0.2.12', '192.0.2.12', '10.244.2.0/24'],
      ],
    );
  });

  test('optional fields absent: tunnel, topology, vxlanPort and vni are undefined (the local settings apply)', () => {
    const spec = parseClusterFile(file());
    assert.equal(spec.tunnel, undefined);
    assert.equal(spec.topology, undefined);
    assert.equal(spec.vxlanPort, undefined);
    assert.equal(spec.vni, undefined);
    assert.equal(spec.nodes.length, 2);
  });

  test('every allowed value of the cluster-wide fields, at the ends of their ranges', () => {
    const a = parseClusterFile(file({ tunnel: 'vxlan', topology: 'mesh', vxlanPort: 1, vni: 0 }));
    assert.deepEqual([a.tunnel, a.topology, a.vxlanPort, a.vni], ['vxlan', 'mesh', 1, 0]);
    const b = parseClusterFile(file({ vxlanPort: 65535, vni: 16777215 }));
    assert.deepEqual([b.vxlanPort, b.vni], [65535, 16777215]);
  });

  test('one node is a cluster; a /29 node subnet and one that fills the cluster CIDR are taken', () => {
    assert.equal(parseClusterFile(withNodes(NODE1)).nodes.length, 1);
    assert.equal(formatCidr(parseClusterFile(withNodes({ ...NODE1, subnet: '10.244.7.8/29' })).nodes[0]!.subnet), '10.244.7.8/29');
    assert.equal(formatCidr(parseClusterFile(withNodes({ ...NODE1, subnet: '10.244.0.0/16' })).nodes[0]!.subnet), '10.244.0.0/16');
  });

  test('adjacent subnets do not overlap; names may use letters, digits, "_", "-", "." up to 63 characters', () => {
    const long = 'n'.repeat(63);
    const spec = parseClusterFile(
      withNodes(
        { name: 'a.example_1-x', ip: '192.0.2.1', subnet: '10.244.0.0/24' },
        { name: long, ip: '192.0.2.2', subnet: '10.244.1.0/24' },
        { name: '3', ip: '198.51.100.3', subnet: '10.244.2.0/23' },
      ),
    );
    assert.deepEqual(spec.nodes.map((n) => n.name), ['a.example_1-x', long, '3']);
  });

  test('the node order of the file is kept', () => {
    const spec = parseClusterFile(withNodes(NODE2, NODE1));
    assert.deepEqual(spec.nodes.map((n) => n.name), ['node2', 'node1']);
  });
});

describe('cluster/cluster-file: refusals name the bad entry', () => {
  test('not JSON', () => {
    refuses('', /not valid JSON/);
    refuses('{ "clusterCIDR": "10.244.0.0/16", ', /not valid JSON/);
    refuses("{ clusterCIDR: '10.244.0.0/16' }", /not valid JSON/);
  });

  test('not an object', () => {
    for (const text of ['null', '[]', '"10.244.0.0/16"', '42', 'true', '[{"clusterCIDR":"10.244.0.0/16"}]']) {
      refuses(text, /must be a JSON object/);
    }
  });

  test('an unknown top-level key is named (a typo is not silently ignored)', () => {
    refuses(file({ clusterCidr: '10.244.0.0/16' }), 'clusterCidr', /unknown key/);
    refuses(file({ vxlan_port: 8472 }), 'vxlan_port', /unknown key/);
    refuses(file({ extra: 1, other: 2 }), 'extra', 'other');
  });

  test('clusterCIDR missing or not a string', () => {
    refuses(file({ clusterCIDR: undefined }), 'clusterCIDR', /required/);
    refuses(file({ clusterCIDR: 16 }), 'clusterCIDR', /required/);
    refuses(file({ clusterCIDR: null }), 'clusterCIDR');
  });

  test('clusterCIDR invalid: not a CIDR, a bad address, a bad prefix, host bits set', () => {
    refuses(file({ clusterCIDR: '10.244.0.0' }), 'clusterCIDR', /not an IPv4 CIDR/);
    refuses(file({ clusterCIDR: '10.244.0.256/16' }), 'clusterCIDR');
    refuses(file({ clusterCIDR: '10.244.0.0/33' }), 'clusterCIDR', /prefix/);
    refuses(file({ clusterCIDR: 'fd00::/64' }), 'clusterCIDR');
    refuses(file({ clusterCIDR: '10.244.1.0/16' }), 'clusterCIDR', /host bits/, '10.244.0.0/16');
  });

  test('a clusterCIDR shorter than /8 is refused, as PODNET_CLUSTER_CIDR is', () => {
    refuses(file({ clusterCIDR: '0.0.0.0/0', nodes: [{ ...NODE1 }] }), 'clusterCIDR', '0.0.0.0/0', /too large/, /\/8 or longer/);
    refuses(file({ clusterCIDR: '10.0.0.0/7', nodes: [{ ...NODE1 }] }), 'clusterCIDR: 10.0.0.0/7 is too large: a prefix of /8 or longer is expected');
    refuses(file({ clusterCIDR: '128.0.0.0/1', nodes: [{ ...NODE1 }] }), 'clusterCIDR', '128.0.0.0/1', /\/8 or longer/);
    // A /8 is the largest taken.
    assert.equal(formatCidr(parseClusterFile(file({ clusterCIDR: '10.0.0.0/8' })).clusterCidr), '10.0.0.0/8');
  });

  test('tunnel and topology: only gre/vxlan and flow/mesh, as strings', () => {
    refuses(file({ tunnel: 'geneve' }), 'tunnel', 'gre, vxlan', '"geneve"');
    refuses(file({ tunnel: 'GRE' }), 'tunnel');
    refuses(file({ tunnel: null }), 'tunnel', 'null');
    refuses(file({ tunnel: '' }), 'tunnel');
    refuses(file({ topology: 'full-mesh' }), 'topology', 'flow, mesh', '"full-mesh"');
    refuses(file({ topology: ['flow'] }), 'topology');
  });

  test('vxlanPort: an integer from 1 to 65535', () => {
    for (const bad of [0, 65536, -1, 8472.5, '8472', null, true]) {
      refuses(file({ vxlanPort: bad }), 'vxlanPort', /1 to 65535/, JSON.stringify(bad));
    }
  });

  test('vni: an integer from 0 to 16777215 (24 bits)', () => {
    for (const bad of [16777216, -1, 1.5, '1', null]) {
      refuses(file({ vni: bad }), 'vni', /0 to 16777215/, JSON.stringify(bad));
    }
  });

  test('nodes missing, empty, or not a list', () => {
    refuses(file({ nodes: undefined }), 'nodes', /non-empty list/);
    refuses(file({ nodes: [] }), 'nodes', /non-empty list/);
    refuses(file({ nodes: {} }), 'nodes');
    refuses(file({ nodes: NODE1 }), 'nodes');
    refuses(file({ nodes: 'node1' }), 'nodes');
  });

  test('a node that is not an object is named by its index', () => {
    refuses(withNodes(NODE1, null), 'nodes[1]', /must be an object/);
    refuses(withNodes('node1'), 'nodes[0]', /must be an object/);
    refuses(withNodes(NODE1, NODE2, [NODE1]), 'nodes[2]', /must be an object/);
  });

  test('an unknown node key is named with its entry', () => {
    refuses(withNodes(NODE1, { ...NODE2, subnets: '10.244.2.0/24' }), 'nodes[1]', 'subnets', /unknown key/);
    refuses(withNodes({ ...NODE1, mtu: 1400 }), 'nodes[0]', 'mtu');
  });

  test('a bad name: missing, not a string, empty, bad characters, too long', () => {
    refuses(withNodes(NODE1, { ip: NODE2.ip, subnet: NODE2.subnet }), 'nodes[1]', /name/);
    for (const name of [7, '', '-node', '.node', 'node 2', 'node/2', 'nöde', 'n'.repeat(64)]) {
      refuses(withNodes(NODE1, { ...NODE2, name }), 'nodes[1]', /name must be/, JSON.stringify(name));
    }
  });

  test('a bad ip: missing, not a string, not an IPv4 address', () => {
    refuses(withNodes(NODE1, { name: 'node2', subnet: NODE2.subnet }), 'nodes[1] (node2)', /ip/, /required/);
    refuses(withNodes(NODE1, { ...NODE2, ip: 3221225996 }), 'nodes[1] (node2)', /ip/);
    for (const ip of ['192.0.2', '192.0.2.256', '192.0.2.12/24', 'node2.example', '2001:db8::12', ' 192.0.2.12']) {
      refuses(withNodes(NODE1, { ...NODE2, ip }), 'nodes[1] (node2)', 'ip', ip.trim());
    }
  });

  test('an ip that cannot be a tunnel endpoint: unspecified (0.x), loopback (127.x), multicast or reserved (224.x and up)', () => {
    for (const ip of ['0.0.0.0', '0.1.2.3', '127.0.0.1', '127.255.255.254', '224.0.0.1', '239.1.2.3', '240.0.0.1', '255.255.255.255']) {
      refuses(withNodes(NODE1, { ...NODE2, ip }), 'nodes[1] (node2)', `ip ${ip} cannot be a tunnel endpoint`, /unspecified, loopback or multicast/);
    }
    refuses(withNodes({ ...NODE1, ip: '127.0.1.1' }, NODE2), 'nodes[0] (node1)', 'ip 127.0.1.1', /cannot be a tunnel endpoint/);
  });

  test('an ip inside the clusterCIDR is refused (the underlay address must be outside the pod network)', () => {
    for (const ip of ['10.244.0.0', '10.244.2.1', '10.244.255.255']) {
      refuses(
        withNodes(NODE1, { ...NODE2, ip }),
        'nodes[1] (node2)',
        `nodes[1] (node2): ip ${ip} lies inside clusterCIDR 10.244.0.0/16`,
        /outside the pod network/,
      );
    }
    refuses(file({ clusterCIDR: '10.0.0.0/8', nodes: [{ ...NODE1, ip: '10.1.2.3' }] }), 'nodes[0] (node1)', '10.1.2.3', /inside clusterCIDR 10\.0\.0\.0\/8/);
  });

  test('ips just outside the refused ranges are taken', () => {
    const ips = ['1.0.0.1', '126.255.255.255', '128.0.0.1', '223.255.255.254', '10.243.255.255', '10.245.0.0'];
    const spec = parseClusterFile(withNodes(...ips.map((ip, i) => ({ name: `n${i}`, ip, subnet: `10.244.${i}.0/24` }))));
    assert.deepEqual(spec.nodes.map((n) => formatIpv4(n.ip)), ips);
  });

  test('a bad subnet: missing, not a string, not a CIDR, host bits set', () => {
    refuses(withNodes(NODE1, { name: 'node2', ip: NODE2.ip }), 'nodes[1] (node2)', /subnet is required/);
    refuses(withNodes(NODE1, { ...NODE2, subnet: 24 }), 'nodes[1] (node2)', /subnet/);
    refuses(withNodes(NODE1, { ...NODE2, subnet: '10.244.2.0' }), 'nodes[1] (node2)', /subnet/);
    refuses(withNodes(NODE1, { ...NODE2, subnet: '10.244.2.1/24' }), 'nodes[1] (node2)', /subnet/, /host bits/);
  });

  test('a subnet outside the cluster CIDR, or larger than it', () => {
    refuses(withNodes(NODE1, { ...NODE2, subnet: '10.245.2.0/24' }), 'nodes[1] (node2)', '10.245.2.0/24', /not inside clusterCIDR 10\.244\.0\.0\/16/);
    refuses(withNodes({ ...NODE1, subnet: '10.0.0.0/8' }), 'nodes[0] (node1)', /not inside/);
  });

  test('a subnet smaller than /29', () => {
    refuses(withNodes(NODE1, { ...NODE2, subnet: '10.244.2.0/30' }), 'nodes[1] (node2)', '10.244.2.0/30', /too small/, /\/29/);
    refuses(withNodes({ ...NODE1, subnet: '10.244.9.9/32' }), 'nodes[0] (node1)', /too small/);
  });

  test('a duplicate name', () => {
    refuses(withNodes(NODE1, { ...NODE2, name: 'node1' }), 'nodes[1] (node1)', /name node1 is used twice/);
  });

  test('a duplicate ip names the other node', () => {
    refuses(withNodes(NODE1, NODE2, { name: 'node3', ip: '192.0.2.11', subnet: '10.244.3.0/24' }), 'nodes[2] (node3)', '192.0.2.11', 'node1');
  });

  test('overlapping subnets, either way round, name both nodes', () => {
    // A /23 that contains an earlier /24.
    refuses(
      withNodes(NODE1, { name: 'node2', ip: '192.0.2.12', subnet: '10.244.0.0/23' }),
      'nodes[1] (node2)',
      '10.244.0.0/23',
      "node1's 10.244.1.0/24",
      /overlaps/,
    );
    // A /24 inside an earlier /23.
    refuses(
      withNodes({ name: 'node0', ip: '192.0.2.10', subnet: '10.244.0.0/23' }, NODE1),
      'nodes[1] (node1)',
      '10.244.1.0/24',
      "node0's 10.244.0.0/23",
    );
    // The same subnet twice.
    refuses(withNodes(NODE1, { ...NODE2, subnet: NODE1.subnet }), 'nodes[1] (node2)', /overlaps/);
  });

  test('the first bad entry is the one reported', () => {
    refuses(withNodes(NODE1, { ...NODE2, ip: 'x' }, { ...NODE2, name: 'node3', subnet: 'y' }), 'nodes[1] (node2)');
  });
});
