import { contains, covers, formatCidr, overlaps, parseCidr, parseIpv4, type Ipv4Cidr } from '../model/cidr';
import type { Topology, TunnelType } from '../settings';

/** One node of the cluster file: its name, underlay address (tunnel endpoint) and pod subnet. */
export interface ClusterNode {
  readonly name: string;
  readonly ip: number;
  readonly ipText: string;
  readonly subnet: Ipv4Cidr;
}

/** The cluster file (DESIGN.md): cluster CIDR, cluster-wide tunnel parameters, the nodes. */
export interface ClusterSpec {
  readonly clusterCidr: Ipv4Cidr;
  readonly tunnel: TunnelType | undefined;
  readonly topology: Topology | undefined;
  readonly vxlanPort: number | undefined;
  readonly vni: number | undefined;
  readonly nodes: readonly ClusterNode[];
}

export class ClusterFileError extends Error {}

const KNOWN_KEYS = new Set(['clusterCIDR', 'tunnel', 'topology', 'vxlanPort', 'vni', 'nodes']);
const NODE_KEYS = new Set(['name', 'ip', 'subnet']);

function bad(where: string, what: string): never {
  throw new ClusterFileError(`${where}: ${what}`);
}

function optionalEnum<T extends string>(obj: Record<string, unknown>, key: string, allowed: readonly T[]): T | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) bad(key, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
  return v as T;
}

function optionalInt(obj: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(key, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return v;
}

/**
 * Parses and validates a cluster file. Every error names the bad entry, so an administrator can
 * fix it; nothing is applied from a file that fails here.
 */
export function parseClusterFile(text: string): ClusterSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ClusterFileError(`not valid JSON: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('file', 'must be a JSON object');
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) bad(unknown.join(', '), `unknown key(s); the file takes ${[...KNOWN_KEYS].join(', ')}`);
  if (typeof obj['clusterCIDR'] !== 'string') bad('clusterCIDR', 'is required, e.g. "10.244.0.0/16"');
  let clusterCidr: Ipv4Cidr;
  try {
    clusterCidr = parseCidr(obj['clusterCIDR'], { strict: true });
  } catch (err) {
    return bad('clusterCIDR', (err as Error).message);
  }
  if (clusterCidr.prefix < 8) bad('clusterCIDR', `${formatCidr(clusterCidr)} is too large: a prefix of /8 or longer is expected`);
  const tunnel = optionalEnum(obj, 'tunnel', ['gre', 'vxlan'] as const);
  const topology = optionalEnum(obj, 'topology', ['flow', 'mesh'] as const);
  const vxlanPort = optionalInt(obj, 'vxlanPort', 1, 65535);
  const vni = optionalInt(obj, 'vni', 0, 16777215);
  if (!Array.isArray(obj['nodes']) || obj['nodes'].length === 0) bad('nodes', 'must be a non-empty list of {name, ip, subnet}');
  const nodes: ClusterNode[] = [];
  for (const [i, entry] of (obj['nodes'] as unknown[]).entries()) {
    const where = `nodes[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) bad(where, 'must be an object {name, ip, subnet}');
    const e = entry as Record<string, unknown>;
    const extra = Object.keys(e).filter((k) => !NODE_KEYS.has(k));
    if (extra.length > 0) bad(where, `unknown key(s) ${extra.join(', ')}`);
    const name = e['name'];
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) bad(where, `name must be 1-63 letters, digits, "_", "-", "." (got ${JSON.stringify(name)})`);
    const at = `${where} (${name})`;
    if (typeof e['ip'] !== 'string') bad(at, 'ip (the underlay address) is required');
    let ip: number;
    try {
      ip = parseIpv4(e['ip']);
    } catch (err) {
      return bad(at, `ip: ${(err as Error).message}`);
    }
    const first = ip >>> 24;
    if (first === 0 || first === 127 || first >= 224) bad(at, `ip ${e['ip']} cannot be a tunnel endpoint (unspecified, loopback or multicast)`);
    if (contains(clusterCidr, ip)) bad(at, `ip ${e['ip']} lies inside clusterCIDR ${formatCidr(clusterCidr)}: the underlay address must be outside the pod network`);
    if (typeof e['subnet'] !== 'string') bad(at, 'subnet is required, e.g. "10.244.1.0/24"');
    let subnet: Ipv4Cidr;
    try {
      subnet = parseCidr(e['subnet'], { strict: true });
    } catch (err) {
      return bad(at, `subnet: ${(err as Error).message}`);
    }
    if (!covers(clusterCidr, subnet)) bad(at, `subnet ${formatCidr(subnet)} is not inside clusterCIDR ${formatCidr(clusterCidr)}`);
    if (subnet.prefix > 29) bad(at, `subnet ${formatCidr(subnet)} is too small: a /29 or larger`);
    for (const other of nodes) {
      if (other.name === name) bad(at, `name ${name} is used twice`);
      if (other.ip === ip) bad(at, `ip ${e['ip']} is also the ip of ${other.name}`);
      if (overlaps(other.subnet, subnet)) bad(at, `subnet ${formatCidr(subnet)} overlaps ${other.name}'s ${formatCidr(other.subnet)}`);
    }
    nodes.push({ name, ip, ipText: e['ip'], subnet });
  }
  return { clusterCidr, tunnel, topology, vxlanPort, vni, nodes };
}
