import { SettingsError } from './errors';
import { contains, covers, formatCidr, gatewayOf, parseCidr, type Ipv4Cidr } from './model/cidr';

export type TunnelType = 'gre' | 'vxlan';
export type Topology = 'flow' | 'mesh';
export type OvsDatapath = 'auto' | 'system' | 'netdev';

export interface Settings {
  readonly clusterCidr: Ipv4Cidr;
  readonly nodeSubnet: Ipv4Cidr;
  /** The node's gateway on kbr0: the first address of the node subnet. */
  readonly gateway: number;
  readonly nodeName: string | undefined;
  readonly clusterFile: string;
  readonly stateDir: string;
  readonly socket: string;
  readonly bridge: string;
  readonly ovsBridge: string;
  readonly tunnel: TunnelType;
  readonly topology: Topology;
  readonly vxlanPort: number;
  readonly ovsDatapath: OvsDatapath;
  readonly underlayIface: string | undefined;
  readonly mtu: number | undefined;
  readonly infraImage: string;
  readonly infraCommand: string | undefined;
  /** How long an address may stay handed out with no endpoint before it is taken back. */
  readonly addressGraceMs: number;
  /** The PODNET_* names set in the environment (a cluster file may not contradict those). */
  readonly explicit: ReadonlySet<string>;
}

interface Spec {
  readonly doc: string;
  readonly default: string | undefined;
}

/** Every setting podnet reads. The README's settings table is generated from the same words. */
export const SETTINGS: Readonly<Record<string, Spec>> = {
  PODNET_CLUSTER_CIDR: { doc: 'cluster CIDR (IPv4)', default: '10.244.0.0/16' },
  PODNET_NODE_SUBNET: { doc: "this node's subnet, inside the cluster CIDR", default: '10.244.1.0/24' },
  PODNET_NODE_NAME: { doc: 'which cluster-file entry is this node', default: undefined },
  PODNET_CLUSTER_FILE: { doc: 'static cluster membership file', default: '/etc/podnet/cluster.json' },
  PODNET_STATE_DIR: { doc: 'durable state (SQLite) and the instance lock', default: '/var/lib/podnet' },
  PODNET_SOCKET: { doc: 'plugin socket Docker connects to', default: '/run/docker/plugins/podnet.sock' },
  PODNET_BRIDGE: { doc: 'Linux bridge the endpoints hang off', default: 'kbr0' },
  PODNET_OVS_BRIDGE: { doc: 'Open vSwitch bridge carrying the tunnels', default: 'obr0' },
  PODNET_TUNNEL: { doc: 'gre or vxlan', default: 'gre' },
  PODNET_TOPOLOGY: { doc: 'flow or mesh', default: 'flow' },
  PODNET_VXLAN_PORT: { doc: 'VXLAN UDP port', default: '8472' },
  PODNET_OVS_DATAPATH: { doc: 'auto, system or netdev', default: 'auto' },
  PODNET_UNDERLAY_IFACE: { doc: "underlay interface (default: the default route's)", default: undefined },
  PODNET_MTU: { doc: 'endpoint MTU (default: underlay MTU minus tunnel overhead)', default: undefined },
  PODNET_INFRA_IMAGE: { doc: 'pod infra container image (CLI)', default: 'registry.k8s.io/pause:3.10' },
  PODNET_INFRA_COMMAND: { doc: 'pod infra container command (CLI)', default: undefined },
  PODNET_ADDRESS_GRACE_SECONDS: { doc: 'seconds before an address handed out but unused is taken back', default: '60' },
};

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function fail(name: string, value: string, allowed: string): never {
  throw new SettingsError(`${name}=${JSON.stringify(value)} is invalid: ${allowed}`);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  return fail(name, value, `allowed values are ${allowed.join(', ')}`);
}

function intIn(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) fail(name, value, `expected an integer from ${min} to ${max}`);
  const n = Number(value);
  if (n < min || n > max) fail(name, value, `expected an integer from ${min} to ${max}`);
  return n;
}

function cidr(name: string, value: string): Ipv4Cidr {
  try {
    return parseCidr(value, { strict: true });
  } catch (err) {
    return fail(name, value, `expected an IPv4 CIDR such as ${SETTINGS[name]?.default ?? '10.0.0.0/8'} (${(err as Error).message})`);
  }
}

function ifname(name: string, value: string): string {
  if (!IFNAME.test(value) || value === '.' || value === '..') fail(name, value, 'expected an interface name of 1-15 letters, digits, "_", "-" or "."');
  return value;
}

function absolutePath(name: string, value: string): string {
  if (!value.startsWith('/')) fail(name, value, 'expected an absolute path');
  return value;
}

/**
 * Reads and validates every PODNET_* variable. An unknown name or a bad value stops start-up with
 * one line naming the variable and what is allowed.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  for (const key of Object.keys(env)) {
    if (key.startsWith('PODNET_') && !(key in SETTINGS)) {
      throw new SettingsError(`unknown setting ${key}: podnet understands ${Object.keys(SETTINGS).join(', ')}`);
    }
  }
  const get = (name: string): string | undefined => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    return SETTINGS[name]?.default;
  };
  const need = (name: string): string => get(name) as string;

  const clusterCidr = cidr('PODNET_CLUSTER_CIDR', need('PODNET_CLUSTER_CIDR'));
  const nodeSubnet = cidr('PODNET_NODE_SUBNET', need('PODNET_NODE_SUBNET'));
  // Whether the node subnet lies in the cluster CIDR is checked once a cluster file (which may
  // set both) has been read: checkSingleNode() below, or the file's own validation.
  if (nodeSubnet.prefix > 29) {
    fail('PODNET_NODE_SUBNET', formatCidr(nodeSubnet), 'it must be a /29 or larger (network, gateway, broadcast and at least one pod)');
  }
  if (clusterCidr.prefix < 8) fail('PODNET_CLUSTER_CIDR', formatCidr(clusterCidr), 'a prefix of /8 or longer is expected');
  const gateway = gatewayOf(nodeSubnet);
  if (!contains(nodeSubnet, gateway)) throw new SettingsError('internal: gateway outside node subnet');

  const mtuText = get('PODNET_MTU');
  const underlay = get('PODNET_UNDERLAY_IFACE');
  return {
    clusterCidr,
    nodeSubnet,
    gateway,
    nodeName: get('PODNET_NODE_NAME'),
    clusterFile: absolutePath('PODNET_CLUSTER_FILE', need('PODNET_CLUSTER_FILE')),
    stateDir: absolutePath('PODNET_STATE_DIR', need('PODNET_STATE_DIR')),
    socket: absolutePath('PODNET_SOCKET', need('PODNET_SOCKET')),
    bridge: ifname('PODNET_BRIDGE', need('PODNET_BRIDGE')),
    ovsBridge: ifname('PODNET_OVS_BRIDGE', need('PODNET_OVS_BRIDGE')),
    tunnel: oneOf('PODNET_TUNNEL', need('PODNET_TUNNEL'), ['gre', 'vxlan'] as const),
    topology: oneOf('PODNET_TOPOLOGY', need('PODNET_TOPOLOGY'), ['flow', 'mesh'] as const),
    vxlanPort: intIn('PODNET_VXLAN_PORT', need('PODNET_VXLAN_PORT'), 1, 65535),
    ovsDatapath: oneOf('PODNET_OVS_DATAPATH', need('PODNET_OVS_DATAPATH'), ['auto', 'system', 'netdev'] as const),
    underlayIface: underlay === undefined ? undefined : ifname('PODNET_UNDERLAY_IFACE', underlay),
    mtu: mtuText === undefined ? undefined : intIn('PODNET_MTU', mtuText, 576, 65535),
    infraImage: need('PODNET_INFRA_IMAGE'),
    infraCommand: get('PODNET_INFRA_COMMAND'),
    explicit: new Set(Object.keys(SETTINGS).filter((k) => env[k] !== undefined && env[k] !== '')),
    addressGraceMs: intIn('PODNET_ADDRESS_GRACE_SECONDS', need('PODNET_ADDRESS_GRACE_SECONDS'), 1, 86400) * 1000,
  };
}

/** Single-node mode (no cluster file): the node subnet must lie inside the cluster CIDR. */
export function checkSingleNode(s: Settings): void {
  if (!covers(s.clusterCidr, s.nodeSubnet)) {
    fail('PODNET_NODE_SUBNET', formatCidr(s.nodeSubnet), `it must lie inside the cluster CIDR ${formatCidr(s.clusterCidr)}`);
  }
}
