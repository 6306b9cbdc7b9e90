/**
 * The pure OVS builders: the one ovs-vsctl transaction (argv) and the obr0 flow table (text) for
 * both topologies and both tunnel types.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LINK_OFPORT,
  OVS_NAMES,
  TUNNEL_OFPORT,
  buildFlows,
  buildVsctlTransaction,
  buildVsctlTransactions,
  MAX_VSCTL_ARGV_BYTES,
  desiredPorts,
  isPodnetPort,
  meshPortName,
  type OverlayPeer,
  type OverlayState,
} from '../../src/dataplane/ovs-rules';
import { formatIpv4, parseCidr, parseIpv4 } from '../../src/model/cidr';
import { spawnSync } from 'node:child_process';

function peer(name: string, ip: string, subnet: string): OverlayPeer {
  return { name, ip: parseIpv4(ip), subnet: parseCidr(subnet) };
}

const NODE2 = peer('node2', '192.0.2.12', '10.244.2.0/24');
const NODE3 = peer('node3', '192.0.2.13', '10.244.4.0/23');

function state(over: Partial<OverlayState> = {}): OverlayState {
  return {
    ovsBridge: 'obr0',
    datapath: 'system',
    tunnel: 'gre',
    topology: 'flow',
    vxlanPort: 8472,
    vni: 1,
    peers: [NODE2, NODE3],
    ...over,
  };
}

interface VsctlCommand {
  readonly options: string[];
  readonly name: string;
  readonly args: string[];
}

/** Command name -> [min, max] positional arguments and the options it takes (ovs-vsctl(8)). */
const VSCTL: Record<string, { min: number; max: number; options: string[] }> = {
  'add-br': { min: 1, max: 3, options: ['--may-exist'] },
  'add-port': { min: 2, max: Infinity, options: ['--may-exist'] },
  'del-port': { min: 1, max: 2, options: ['--if-exists'] },
  set: { min: 3, max: Infinity, options: ['--if-exists'] },
  clear: { min: 3, max: Infinity, options: ['--if-exists'] },
};
const TABLES = ['bridge', 'port', 'interface'];
const COLUMN = /^[a-z][a-z_-]*$/;
/** column=value or column:key=value; a map key may hold digits after its first letter (rstp-port-admin-p2p-mac). */
const SET_ARG = /^[a-z][a-z_-]*(:[a-z][a-z0-9_-]*)?=\S+$/;
/** One entry of a map value: key="value", the value double-quoted (no quote, comma, brace or space inside). */
const MAP_ENTRY = /^([a-z_][a-z0-9_]*)="([^"\\,{}=\s]*)"$/;

/**
 * A whole map value as ovs-vsctl reads it, `{key="value",...}`: every value double-quoted
 * (ovs-vsctl takes a bare string only when it starts with a letter), no key twice.
 */
function parseMap(text: string, where: string): Record<string, string> {
  assert.ok(text.startsWith('{') && text.endsWith('}'), `${where}: ${text} is not a {...} map`);
  const inner = text.slice(1, -1);
  const map: Record<string, string> = {};
  if (inner === '') return map;
  for (const entry of inner.split(',')) {
    const m = MAP_ENTRY.exec(entry);
    assert.ok(m, `${where}: map entry ${JSON.stringify(entry)} of ${text} is not key="value"`);
    const [, key, value] = m as unknown as [string, string, string];
    assert.ok(!Object.hasOwn(map, key), `${where}: key ${key} twice in ${text}`);
    map[key] = value;
  }
  return map;
}

/** A column=value argument of set: the column, the map key (column:key=value) and the value. */
function splitSetArg(arg: string): { column: string; key: string | undefined; value: string } {
  const m = /^([a-z][a-z_-]*)(?::([a-z][a-z0-9_-]*))?=(.+)$/.exec(arg);
  assert.ok(m, `not column[:key]=value: ${arg}`);
  return { column: m[1]!, key: m[2], value: m[3]! };
}

/**
 * Splits an argv the way ovs-vsctl does ("[--opts] cmd args [-- [--opts] cmd args]..."), and
 * checks each command: no empty command between separators, a known command, options it takes,
 * the right number of arguments, column=value arguments for set, column names for clear.
 */
function parseVsctl(argv: readonly string[]): VsctlCommand[] {
  assert.ok(argv.length > 0, 'an empty argv');
  const segments: string[][] = [[]];
  for (const a of argv) {
    if (a === '--') segments.push([]);
    else segments.at(-1)!.push(a);
  }
  return segments.map((seg, i) => {
    const options: string[] = [];
    while (seg.length > 0 && seg[0]!.startsWith('--')) options.push(seg.shift()!);
    const [name, ...args] = seg;
    assert.ok(name !== undefined, `command ${i}: nothing between two "--" separators (or a trailing "--") in ${JSON.stringify(argv)}`);
    const spec = VSCTL[name];
    assert.ok(spec, `command ${i}: unknown command ${name}`);
    for (const o of options) assert.ok(spec.options.includes(o), `command ${i}: ${name} takes no option ${o}`);
    assert.ok(args.length >= spec.min && args.length <= spec.max, `command ${i}: ${name} given ${args.length} arguments: ${args.join(' ')}`);
    for (const a of args) assert.ok(!a.startsWith('-'), `command ${i}: ${name}: option-like argument ${a} after the command name`);
    if (name === 'set' || name === 'clear') {
      assert.ok(TABLES.includes(args[0]!), `command ${i}: table ${args[0]}`);
      for (const a of args.slice(2)) assert.match(a, name === 'set' ? SET_ARG : COLUMN, `command ${i}: ${name} argument`);
      if (name === 'set') {
        for (const a of args.slice(2)) {
          const { key, value } = splitSetArg(a);
          // A whole map is set as column={...}; a {...} value with a key would be a map inside a map.
          if (value.startsWith('{')) {
            assert.equal(key, undefined, `command ${i}: ${a}`);
            parseMap(value, `command ${i}`);
          }
        }
      }
    }
    if (name === 'add-port') for (const a of args.slice(2)) assert.match(a, SET_ARG, `command ${i}: add-port column argument`);
    return { options, name, args };
  });
}

/**
 * The options of a tunnel interface's set command: exactly one argument for the column, the whole
 * map at once (options={...}), never options:<key>=<value> one key at a time.
 */
function interfaceOptions(c: VsctlCommand): Record<string, string> {
  assert.equal(c.name, 'set');
  assert.equal(c.args[0], 'interface');
  const opts = c.args.filter((a) => a.startsWith('options'));
  assert.equal(opts.length, 1, `one options argument for ${c.args[1]}: ${c.args.join(' ')}`);
  assert.ok(opts[0]!.startsWith('options={'), `the whole map for ${c.args[1]}: ${opts[0]}`);
  return parseMap(opts[0]!.slice('options='.length), `set interface ${c.args[1]}`);
}

type Row = Map<string, string | Map<string, string>>;

/**
 * What a transaction does to the interface table of a bridge, as ovs-vsctl would do it: add-port
 * creates a row, del-port drops it, `set` replaces a column (column=value, column={map}) or one key
 * of a map column (column:key=value, the other keys stay), `clear` empties a column.
 */
function applyVsctl(rows: Map<string, Row>, argv: readonly string[]): void {
  const unquote = (v: string): string => (v.startsWith('"') ? (JSON.parse(v) as string) : v);
  for (const c of parseVsctl(argv)) {
    if (c.name === 'add-port') {
      const port = c.args[1]!;
      if (rows.has(port)) assert.ok(c.options.includes('--may-exist'), `add-port ${port} again without --may-exist`);
      else rows.set(port, new Map());
    } else if (c.name === 'del-port') {
      const port = c.args.at(-1)!;
      assert.ok(rows.has(port) || c.options.includes('--if-exists'), `del-port ${port} of no such port`);
      rows.delete(port);
    } else if ((c.name === 'set' || c.name === 'clear') && c.args[0] === 'interface') {
      const row = rows.get(c.args[1]!);
      assert.ok(row, `${c.name} interface ${c.args[1]} before its add-port`);
      for (const a of c.args.slice(2)) {
        if (c.name === 'clear') {
          row.delete(a);
          continue;
        }
        const { column, key, value } = splitSetArg(a);
        if (key !== undefined) {
          const map = row.get(column) ?? new Map<string, string>();
          assert.ok(map instanceof Map, `${column} is not a map column`);
          map.set(key, unquote(value));
          row.set(column, map);
        } else if (value.startsWith('{')) {
          row.set(column, new Map(Object.entries(parseMap(value, a))));
        } else {
          row.set(column, unquote(value));
        }
      }
    }
  }
}

/** The commands of a transaction as "[opts ]name args" strings. */
function commandLines(argv: readonly string[]): string[] {
  return parseVsctl(argv).map((c) => [...c.options, c.name, ...c.args].join(' '));
}

describe('dataplane/ovs-rules: names', () => {
  test('constants', () => {
    assert.deepEqual(OVS_NAMES, { linkOnBridge: 'podnet-kbr', linkOnOvs: 'podnet-obr', flowTunnel: 'podnet-tun' });
    assert.equal(LINK_OFPORT, 1);
    assert.equal(TUNNEL_OFPORT, 2);
    for (const n of Object.values(OVS_NAMES)) assert.ok(n.length <= 15, n);
  });

  test('meshPortName: the underlay address in hex, within 15 characters', () => {
    assert.equal(meshPortName(parseIpv4('192.0.2.12')), 'pnt-c000020c');
    assert.equal(meshPortName(parseIpv4('0.0.0.0')), 'pnt-00000000');
    assert.equal(meshPortName(parseIpv4('255.255.255.255')), 'pnt-ffffffff');
    assert.equal(meshPortName(parseIpv4('10.0.0.1')), 'pnt-0a000001');
  });

  test('meshPortName: a valid interface name, distinct for distinct addresses', () => {
    const ips = new Set<number>([0, 1, 0xff, 0x100, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]);
    let x = 0x9e3779b9;
    while (ips.size < 2000) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      ips.add(x);
    }
    const names = new Set<string>();
    for (const ip of ips) {
      const name = meshPortName(ip);
      assert.ok(name.length <= 15, name);
      assert.match(name, /^[A-Za-z0-9_.-]{1,15}$/);
      assert.notEqual(name, OVS_NAMES.flowTunnel);
      names.add(name);
    }
    assert.equal(names.size, ips.size);
  });

  test('desiredPorts: the link and one tunnel (flow) or one tunnel per peer (mesh)', () => {
    assert.deepEqual(desiredPorts(state()), ['podnet-obr', 'podnet-tun']);
    assert.deepEqual(desiredPorts(state({ peers: [] })), ['podnet-obr', 'podnet-tun']);
    assert.deepEqual(desiredPorts(state({ topology: 'mesh' })), ['podnet-obr', 'pnt-c000020c', 'pnt-c000020d']);
    assert.deepEqual(desiredPorts(state({ topology: 'mesh', peers: [] })), ['podnet-obr']);
  });
});

describe('dataplane/ovs-rules: buildVsctlTransaction', () => {
  test('flow, GRE: the exact argv', () => {
    assert.deepEqual(buildVsctlTransaction(state(), []), [
      '--may-exist', 'add-br', 'obr0',
      '--', 'set', 'bridge', 'obr0', 'datapath_type=system', 'fail-mode=secure', 'rstp_enable=false', 'stp_enable=false',
      '--', '--may-exist', 'add-port', 'obr0', 'podnet-obr',
      '--', 'set', 'interface', 'podnet-obr', 'ofport_request=1',
      '--', '--may-exist', 'add-port', 'obr0', 'podnet-tun',
      '--', 'set', 'interface', 'podnet-tun', 'type=gre', 'options={remote_ip="flow",key="flow"}', 'ofport_request=2',
    ]);
  });

  test('flow, VXLAN, netdev: the exact argv, with the UDP port', () => {
    assert.deepEqual(buildVsctlTransaction(state({ tunnel: 'vxlan', datapath: 'netdev', vxlanPort: 4790, ovsBridge: 'br-pn' }), []), [
      '--may-exist', 'add-br', 'br-pn',
      '--', 'set', 'bridge', 'br-pn', 'datapath_type=netdev', 'fail-mode=secure', 'rstp_enable=false', 'stp_enable=false',
      '--', '--may-exist', 'add-port', 'br-pn', 'podnet-obr',
      '--', 'set', 'interface', 'podnet-obr', 'ofport_request=1',
      '--', '--may-exist', 'add-port', 'br-pn', 'podnet-tun',
      '--', 'set', 'interface', 'podnet-tun', 'type=vxlan', 'options={remote_ip="flow",key="flow",dst_port="4790"}', 'ofport_request=2',
    ]);
  });

  test('flow: one tunnel port whatever the number of peers (none included)', () => {
    const none = buildVsctlTransaction(state({ peers: [] }), []);
    const many = buildVsctlTransaction(state({ peers: Array.from({ length: 50 }, (_, i) => peer(`n${i}`, `192.0.2.${i + 1}`, `10.244.${i}.0/24`)) }), []);
    assert.deepEqual(many, none);
    assert.ok(!none.some((a) => a.startsWith('pnt-')));
  });

  test('mesh, VXLAN, with stale ports: the exact argv', () => {
    const existing = ['podnet-obr', 'podnet-tun', 'pnt-c000020c', 'pnt-c000020e'];
    assert.deepEqual(buildVsctlTransaction(state({ topology: 'mesh', tunnel: 'vxlan', datapath: 'netdev', vni: 7 }), existing), [
      '--may-exist', 'add-br', 'obr0',
      '--', 'set', 'bridge', 'obr0', 'datapath_type=netdev', 'rstp_enable=true', 'stp_enable=false', 'other_config:rstp-forward-delay=4', 'other_config:rstp-max-age=6',
      '--', 'clear', 'bridge', 'obr0', 'fail_mode',
      '--', '--may-exist', 'add-port', 'obr0', 'podnet-obr',
      '--', 'set', 'interface', 'podnet-obr', 'ofport_request=1',
      '--', 'set', 'port', 'podnet-obr', 'other_config:rstp-port-admin-edge=true', 'other_config:rstp-port-auto-edge=false',
      '--', '--may-exist', 'add-port', 'obr0', 'pnt-c000020c',
      '--', 'set', 'interface', 'pnt-c000020c', 'type=vxlan', 'options={remote_ip="192.0.2.12",key="7",dst_port="8472"}',
      '--', 'set', 'port', 'pnt-c000020c', 'other_config:rstp-port-admin-p2p-mac=true',
      '--', '--may-exist', 'add-port', 'obr0', 'pnt-c000020d',
      '--', 'set', 'interface', 'pnt-c000020d', 'type=vxlan', 'options={remote_ip="192.0.2.13",key="7",dst_port="8472"}',
      '--', 'set', 'port', 'pnt-c000020d', 'other_config:rstp-port-admin-p2p-mac=true',
      '--', '--if-exists', 'del-port', 'obr0', 'podnet-tun',
      '--', '--if-exists', 'del-port', 'obr0', 'pnt-c000020e',
    ]);
  });

  test('mesh, GRE: RSTP on with short timers, fail_mode cleared, one point-to-point port per peer with its remote_ip and no dst_port or key', () => {
    const lines = commandLines(buildVsctlTransaction(state({ topology: 'mesh' }), []));
    assert.deepEqual(lines, [
      '--may-exist add-br obr0',
      'set bridge obr0 datapath_type=system rstp_enable=true stp_enable=false other_config:rstp-forward-delay=4 other_config:rstp-max-age=6',
      'clear bridge obr0 fail_mode',
      '--may-exist add-port obr0 podnet-obr',
      'set interface podnet-obr ofport_request=1',
      'set port podnet-obr other_config:rstp-port-admin-edge=true other_config:rstp-port-auto-edge=false',
      '--may-exist add-port obr0 pnt-c000020c',
      'set interface pnt-c000020c type=gre options={remote_ip="192.0.2.12"}',
      'set port pnt-c000020c other_config:rstp-port-admin-p2p-mac=true',
      '--may-exist add-port obr0 pnt-c000020d',
      'set interface pnt-c000020d type=gre options={remote_ip="192.0.2.13"}',
      'set port pnt-c000020d other_config:rstp-port-admin-p2p-mac=true',
    ]);
  });

  test('mesh with no peers: the bridge and its link only', () => {
    const lines = commandLines(buildVsctlTransaction(state({ topology: 'mesh', peers: [] }), ['podnet-obr', 'pnt-c000020c']));
    assert.deepEqual(lines, [
      '--may-exist add-br obr0',
      'set bridge obr0 datapath_type=system rstp_enable=true stp_enable=false other_config:rstp-forward-delay=4 other_config:rstp-max-age=6',
      'clear bridge obr0 fail_mode',
      '--may-exist add-port obr0 podnet-obr',
      'set interface podnet-obr ofport_request=1',
      'set port podnet-obr other_config:rstp-port-admin-edge=true other_config:rstp-port-auto-edge=false',
      '--if-exists del-port obr0 pnt-c000020c',
    ]);
    assert.ok(!lines.some((l) => l.includes('add-port obr0 pnt-')));
    assert.ok(!lines.some((l) => l.startsWith('set port pnt-')), 'no p2p setting for a port that is not there');
  });

  test('stale podnet ports are deleted, wanted ones are not', () => {
    // Flow: every mesh port is stale. Mesh: the flow tunnel and the ports of departed peers are.
    const flow = commandLines(buildVsctlTransaction(state(), ['podnet-obr', 'podnet-tun', 'pnt-c000020c', 'pnt-c000020d']));
    assert.deepEqual(flow.filter((l) => l.includes('del-port')), ['--if-exists del-port obr0 pnt-c000020c', '--if-exists del-port obr0 pnt-c000020d']);
    const mesh = commandLines(buildVsctlTransaction(state({ topology: 'mesh', peers: [NODE3] }), ['podnet-obr', 'podnet-tun', 'pnt-c000020c', 'pnt-c000020d']));
    assert.deepEqual(mesh.filter((l) => l.includes('del-port')), ['--if-exists del-port obr0 podnet-tun', '--if-exists del-port obr0 pnt-c000020c']);
    // Everything wanted already there: nothing deleted.
    for (const s of [state(), state({ topology: 'mesh' }), state({ topology: 'mesh', tunnel: 'vxlan' })]) {
      assert.ok(!commandLines(buildVsctlTransaction(s, desiredPorts(s))).some((l) => l.includes('del-port')));
    }
  });

  test('idempotent: the transaction depends only on the state and on the stale ports', () => {
    const s = state({ topology: 'mesh' });
    assert.deepEqual(buildVsctlTransaction(s, []), buildVsctlTransaction(s, desiredPorts(s)));
    assert.deepEqual(buildVsctlTransaction(s, []), buildVsctlTransaction(s, [...desiredPorts(s)].reverse()));
  });

  test('every combination parses as ovs-vsctl would: separators between commands, none doubled or trailing', () => {
    const existing = ['podnet-obr', 'podnet-tun', 'pnt-c000020c', 'pnt-0a000001', 'eth1'];
    const peerIp = new Map([NODE2, NODE3].map((p) => [meshPortName(p.ip), formatIpv4(p.ip)]));
    for (const topology of ['flow', 'mesh'] as const) {
      for (const tunnel of ['gre', 'vxlan'] as const) {
        for (const datapath of ['system', 'netdev'] as const) {
          for (const peers of [[], [NODE2], [NODE2, NODE3]]) {
            for (const ports of [[], existing]) {
              const argv = buildVsctlTransaction(state({ topology, tunnel, datapath, peers }), ports);
              const cmds = parseVsctl(argv);
              assert.equal(cmds[0]?.name, 'add-br', 'the bridge first');
              assert.deepEqual(cmds[0]?.options, ['--may-exist']);
              assert.notEqual(argv.at(-1), '--');
              // Every port is added before it is set, and every tunnel interface gets its type and its
              // whole options map: remote_ip, the key (flow: always; mesh: the VNI, VXLAN only) and the
              // UDP port (VXLAN only).
              let tunnels = 0;
              for (const [i, c] of cmds.entries()) {
                if (c.name === 'set' && c.args[0] === 'interface') {
                  const added = cmds.slice(0, i).some((p) => p.name === 'add-port' && p.args[1] === c.args[1]);
                  assert.ok(added, `set interface ${c.args[1]} before its add-port`);
                  if (c.args[1] !== OVS_NAMES.linkOnOvs) {
                    tunnels += 1;
                    assert.deepEqual(c.args.filter((a) => a.startsWith('type')), [`type=${tunnel}`]);
                    assert.ok(!c.args.some((a) => a.startsWith('options:')), `no options:<key> argument: ${c.args.join(' ')}`);
                    const remote = topology === 'flow' ? 'flow' : peerIp.get(c.args[1]!);
                    assert.ok(remote !== undefined, `a tunnel port of no peer: ${c.args[1]}`);
                    const expected: Record<string, string> = { remote_ip: remote };
                    if (topology === 'flow') expected['key'] = 'flow';
                    else if (tunnel === 'vxlan') expected['key'] = '1';
                    if (tunnel === 'vxlan') expected['dst_port'] = '8472';
                    assert.deepEqual(interfaceOptions(c), expected);
                  }
                }
              }
              assert.equal(tunnels, topology === 'flow' ? 1 : peers.length);
              // The bridge: flow is secure with no spanning tree; mesh runs RSTP with short timers
              // (2 x (forward delay - 1) >= max age) and no fail_mode.
              const bridgeSets = cmds.filter((c) => c.name === 'set' && c.args[0] === 'bridge');
              assert.equal(bridgeSets.length, 1);
              assert.deepEqual(
                bridgeSets[0]!.args,
                topology === 'flow'
                  ? ['bridge', 'obr0', `datapath_type=${datapath}`, 'fail-mode=secure', 'rstp_enable=false', 'stp_enable=false']
                  : ['bridge', 'obr0', `datapath_type=${datapath}`, 'rstp_enable=true', 'stp_enable=false', 'other_config:rstp-forward-delay=4', 'other_config:rstp-max-age=6'],
              );
              assert.deepEqual(
                cmds.filter((c) => c.name === 'clear').map((c) => c.args.join(' ')),
                topology === 'flow' ? [] : ['bridge obr0 fail_mode'],
              );
              // set port: only on ports added earlier in the transaction. The link (mesh only) is an RSTP
              // edge port; every mesh tunnel port gets exactly one point-to-point command, flow none.
              const portSets = cmds.filter((c) => c.name === 'set' && c.args[0] === 'port');
              for (const c of portSets) {
                const i = cmds.indexOf(c);
                const added = cmds.slice(0, i).some((p) => p.name === 'add-port' && p.args[1] === c.args[1]);
                assert.ok(added, `set port ${c.args[1]} before its add-port`);
                assert.ok(c.args[1] === OVS_NAMES.linkOnOvs || peerIp.has(c.args[1]!), `set port of no wanted port: ${c.args.join(' ')}`);
              }
              const linkSets = portSets.filter((c) => c.args[1] === OVS_NAMES.linkOnOvs);
              assert.deepEqual(
                linkSets.map((c) => c.args.slice(2)),
                topology === 'flow' ? [] : [['other_config:rstp-port-admin-edge=true', 'other_config:rstp-port-auto-edge=false']],
              );
              const p2p = portSets.filter((c) => c.args[1] !== OVS_NAMES.linkOnOvs);
              assert.ok(p2p.every((c) => c.args.length === 3 && c.args[2] === 'other_config:rstp-port-admin-p2p-mac=true'), JSON.stringify(p2p));
              const meshTunnelPorts = topology === 'flow' ? [] : peers.map((p) => meshPortName(p.ip));
              assert.equal(p2p.length, meshTunnelPorts.length);
              for (const port of meshTunnelPorts) {
                assert.equal(p2p.filter((c) => c.args[1] === port).length, 1, `one p2p command for ${port}`);
              }
              assert.ok(!argv.some((a) => a.includes('p2p')) || topology === 'mesh', 'flow topology: no p2p setting');
              // Only podnet's ports are ever deleted.
              for (const c of cmds) if (c.name === 'del-port') assert.ok(isPodnetPort(c.args.at(-1)!), c.args.join(' '));
              assert.ok(!cmds.some((c) => c.name === 'del-port' && c.args.includes('eth1')));
            }
          }
        }
      }
    }
  });

  test("ports on obr0 that are not podnet's are left alone", () => {
    const lines = commandLines(buildVsctlTransaction(state(), ['podnet-obr', 'podnet-tun', 'eth1', 'patch-brphy']));
    assert.deepEqual(lines.filter((l) => l.includes('del-port')), []);
    // Among stale podnet ports, the foreign ones still stay.
    const foreign = ['eth1', 'pnt-C000020C', 'pnt-c000020', 'pnt-c000020cd', 'xpnt-c000020c', 'podnet-kbr', 'podnet-tun0', 'vxlan0'];
    const mesh = commandLines(buildVsctlTransaction(state({ topology: 'mesh', peers: [NODE3] }), ['podnet-obr', ...foreign, 'podnet-tun', 'pnt-c000020c']));
    assert.deepEqual(mesh.filter((l) => l.includes('del-port')), ['--if-exists del-port obr0 podnet-tun', '--if-exists del-port obr0 pnt-c000020c']);
  });

  test("isPodnetPort: podnet's link, its flow tunnel and pnt-<8 lowercase hex digits>, nothing else", () => {
    for (const port of ['podnet-obr', 'podnet-tun', 'pnt-c000020c', 'pnt-00000000', 'pnt-ffffffff', meshPortName(parseIpv4('10.0.0.1'))]) {
      assert.equal(isPodnetPort(port), true, port);
    }
    for (const port of ['eth1', 'patch-brphy', 'obr0', 'podnet-kbr', 'podnet-tun0', 'podnet-obr1', 'pnt-C000020C', 'pnt-c000020', 'pnt-c000020cd', 'pnt-g000020c', 'xpnt-c000020c', 'pnt-', '']) {
      assert.equal(isPodnetPort(port), false, port);
    }
  });

  test('a tunnel port is given its whole options map, so that no option of another tunnel type lingers', () => {
    // The GRE transaction itself: one options={...} argument per tunnel port, no dst_port, and a key
    // only in flow topology.
    for (const topology of ['flow', 'mesh'] as const) {
      const s = state({ tunnel: 'gre', topology });
      for (const c of parseVsctl(buildVsctlTransaction(s, []))) {
        if (c.name !== 'set' || c.args[0] !== 'interface' || c.args[1] === OVS_NAMES.linkOnOvs) continue;
        assert.ok(!c.args.some((a) => a.startsWith('options:')), `${c.args[1]}: ${c.args.join(' ')}`);
        const options = interfaceOptions(c);
        assert.ok(!('dst_port' in options), `${c.args[1]}: ${JSON.stringify(options)}`);
        assert.equal('key' in options, topology === 'flow', `${c.args[1]}: ${JSON.stringify(options)}`);
      }
    }
    // A live vxlan -> gre change on the same bridge, applied as ovs-vsctl would: only GRE's options remain.
    const greOptions = (topology: 'flow' | 'mesh', port: string): Record<string, string> =>
      topology === 'flow' ? { remote_ip: 'flow', key: 'flow' } : { remote_ip: formatIpv4([NODE2, NODE3].find((p) => meshPortName(p.ip) === port)!.ip) };
    for (const topology of ['flow', 'mesh'] as const) {
      const rows = new Map<string, Row>();
      applyVsctl(rows, buildVsctlTransaction(state({ tunnel: 'vxlan', topology, vni: 7 }), []));
      const tunnelPorts = desiredPorts(state({ topology })).filter((p) => p !== OVS_NAMES.linkOnOvs);
      for (const port of tunnelPorts) {
        assert.equal(rows.get(port)?.get('type'), 'vxlan');
        assert.equal((rows.get(port)?.get('options') as Map<string, string>).get('dst_port'), '8472', 'the VXLAN port was there');
      }
      applyVsctl(rows, buildVsctlTransaction(state({ tunnel: 'gre', topology, vni: 7 }), [...rows.keys()]));
      assert.deepEqual([...rows.keys()], desiredPorts(state({ topology })));
      for (const port of tunnelPorts) {
        const row = rows.get(port)!;
        assert.equal(row.get('type'), 'gre', port);
        const options = row.get('options');
        assert.ok(options instanceof Map, port);
        assert.deepEqual(Object.fromEntries(options), greOptions(topology, port), `${topology} ${port}`);
      }
    }
    // And a new VNI in mesh VXLAN replaces the key, with nothing else left over.
    const rows = new Map<string, Row>();
    applyVsctl(rows, buildVsctlTransaction(state({ tunnel: 'vxlan', topology: 'mesh', vni: 7, vxlanPort: 4789 }), []));
    applyVsctl(rows, buildVsctlTransaction(state({ tunnel: 'vxlan', topology: 'mesh', vni: 9 }), [...rows.keys()]));
    assert.deepEqual(Object.fromEntries(rows.get('pnt-c000020c')!.get('options') as Map<string, string>), {
      remote_ip: '192.0.2.12',
      key: '9',
      dst_port: '8472',
    });
  });
});

describe('dataplane/ovs-rules: buildFlows', () => {
  test('flow: per peer IP and ARP for its subnet to its underlay address, and the tunnel to kbr0 (exact text)', () => {
    assert.equal(
      buildFlows(state()),
      [
        'table=0,priority=100,in_port=1,ip,nw_dst=10.244.2.0/24,actions=set_field:192.0.2.12->tun_dst,set_field:1->tun_id,output:2',
        'table=0,priority=100,in_port=1,arp,arp_tpa=10.244.2.0/24,actions=set_field:192.0.2.12->tun_dst,set_field:1->tun_id,output:2',
        'table=0,priority=100,in_port=1,ip,nw_dst=10.244.4.0/23,actions=set_field:192.0.2.13->tun_dst,set_field:1->tun_id,output:2',
        'table=0,priority=100,in_port=1,arp,arp_tpa=10.244.4.0/23,actions=set_field:192.0.2.13->tun_dst,set_field:1->tun_id,output:2',
        'table=0,priority=100,in_port=2,tun_id=1,actions=output:1',
        '',
      ].join('\n'),
    );
  });

  test('flow: the vni is the tunnel id both ways; the tunnel type does not change the flows', () => {
    const text = buildFlows(state({ vni: 4242, peers: [NODE2], tunnel: 'vxlan' }));
    assert.equal(
      text,
      'table=0,priority=100,in_port=1,ip,nw_dst=10.244.2.0/24,actions=set_field:192.0.2.12->tun_dst,set_field:4242->tun_id,output:2\n' +
        'table=0,priority=100,in_port=1,arp,arp_tpa=10.244.2.0/24,actions=set_field:192.0.2.12->tun_dst,set_field:4242->tun_id,output:2\n' +
        'table=0,priority=100,in_port=2,tun_id=4242,actions=output:1\n',
    );
    assert.equal(buildFlows(state({ vni: 4242, peers: [NODE2], tunnel: 'gre' })), text);
  });

  test('flow with no peers: only the flow from the tunnel', () => {
    assert.equal(buildFlows(state({ peers: [] })), 'table=0,priority=100,in_port=2,tun_id=1,actions=output:1\n');
  });

  test('mesh: one NORMAL flow, whatever the peers', () => {
    assert.equal(buildFlows(state({ topology: 'mesh' })), 'table=0,priority=0,actions=NORMAL\n');
    assert.equal(buildFlows(state({ topology: 'mesh', peers: [], tunnel: 'vxlan' })), 'table=0,priority=0,actions=NORMAL\n');
  });

  test('each line is one flow; the ports match the ofport requests of the transaction', () => {
    const lines = buildFlows(state()).trimEnd().split('\n');
    assert.equal(lines.length, 2 * 2 + 1);
    for (const l of lines) {
      assert.match(l, /^table=0,priority=\d+,in_port=\d+,/);
      assert.ok(!/\s/.test(l), 'no whitespace inside a flow');
    }
    assert.ok(lines.slice(0, -1).every((l) => l.includes(`in_port=${LINK_OFPORT},`) && l.endsWith(`output:${TUNNEL_OFPORT}`)));
    assert.ok(lines.at(-1)!.includes(`in_port=${TUNNEL_OFPORT},`) && lines.at(-1)!.endsWith(`output:${LINK_OFPORT}`));
  });
});

/** n mesh peers: underlay 172.16.0.0/12, subnets 10.x.y.0/24. */
function manyPeers(n: number): OverlayPeer[] {
  return Array.from({ length: n }, (_, i) => {
    const u = i + 1;
    return peer(`n${i}`, `172.${16 + (u >>> 16)}.${(u >>> 8) & 255}.${u & 255}`, `10.${u >>> 8}.${u & 255}.0/24`);
  });
}

function argvBytes(argv: readonly string[]): number {
  return argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
}

describe('dataplane/ovs-rules: buildVsctlTransactions (argv within bounds)', () => {
  test('a 10k-peer mesh: the single transaction cannot even be exec\'d (E2BIG); every chunk can', () => {
    const s = state({ topology: 'mesh', tunnel: 'vxlan', peers: manyPeers(10_000) });
    const whole = buildVsctlTransaction(s, []);
    assert.equal(spawnSync('true', whole).error?.message.includes('E2BIG'), true, `${argvBytes(whole)} bytes of argv`);
    const chunks = buildVsctlTransactions(s, []);
    assert.ok(chunks.length > 1);
    for (const argv of chunks) {
      assert.ok(argvBytes(argv) <= MAX_VSCTL_ARGV_BYTES, `${argvBytes(argv)} bytes`);
      const r = spawnSync('true', argv);
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(r.status, 0);
    }
  });

  test('the chunks hold exactly the commands of the one transaction, in order, each a valid ovs-vsctl argv', () => {
    const existing = ['podnet-obr', 'podnet-tun', 'eth1', ...manyPeers(3000).map((p) => meshPortName((p.ip + 0x01000000) >>> 0))];
    for (const s of [state({ topology: 'mesh', peers: manyPeers(5000) }), state({ peers: manyPeers(5000) })]) {
      const chunks = buildVsctlTransactions(s, existing, 64 * 1024);
      assert.deepEqual(chunks.flatMap(commandLines), commandLines(buildVsctlTransaction(s, existing)));
      for (const argv of chunks) {
        assert.ok(argvBytes(argv) <= 64 * 1024);
        assert.notEqual(argv[0], '--', 'an argv starts with a command');
        assert.notEqual(argv.at(-1), '--');
      }
      assert.equal(parseVsctl(chunks[0]!)[0]?.name, 'add-br', 'the bridge comes first');
      // A port is set in the argv that adds it.
      for (const argv of chunks) {
        const cmds = parseVsctl(argv);
        for (const c of cmds.filter((c) => c.name === 'set' && (c.args[0] === 'interface' || c.args[0] === 'port'))) {
          assert.ok(cmds.some((p) => p.name === 'add-port' && p.args[1] === c.args[1]), `set ${c.args[0]} ${c.args[1]} without its add-port in the same argv`);
        }
      }
    }
  });

  test('applied in order, the chunks leave the interface table the one transaction leaves', () => {
    const s = state({ topology: 'mesh', tunnel: 'vxlan', vni: 9, peers: manyPeers(800) });
    const existing = ['podnet-tun', 'pnt-01010101', 'pnt-02020202'];
    const seed = (): Map<string, Row> => new Map(existing.map((p) => [p, new Map()]));
    const one = seed();
    applyVsctl(one, buildVsctlTransaction(s, existing));
    const many = seed();
    for (const argv of buildVsctlTransactions(s, existing, 16 * 1024)) applyVsctl(many, argv);
    assert.deepEqual(many, one);
    assert.equal(many.size, 801);
  });

  test('small clusters, and flow at any size: one argv, the same as buildVsctlTransaction', () => {
    for (const s of [state(), state({ topology: 'mesh' }), state({ peers: manyPeers(20_000) }), state({ topology: 'mesh', peers: manyPeers(100) })]) {
      assert.deepEqual(buildVsctlTransactions(s, ['pnt-c000020e']), [buildVsctlTransaction(s, ['pnt-c000020e'])]);
    }
  });

  test('a bound smaller than one unit still gives every unit, one per argv', () => {
    const s = state({ topology: 'mesh' });
    const chunks = buildVsctlTransactions(s, ['pnt-c000020e'], 1);
    assert.deepEqual(chunks.map((c) => parseVsctl(c)[0]?.name), ['add-br', 'add-port', 'add-port', 'del-port']);
    assert.deepEqual(chunks.flatMap(commandLines), commandLines(buildVsctlTransaction(s, ['pnt-c000020e'])));
  });
});
