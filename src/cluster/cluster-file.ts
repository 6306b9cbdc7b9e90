import { open } from 'node:fs/promises';
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

/**
 * The largest cluster file podnet reads: 8 MiB holds ~100k nodes. Parsing and validating happen
 * on the event loop that answers Docker, so a file (or a mistake, say a log pointed at by
 * PODNET_CLUSTER_FILE) far beyond any cluster must not be read at all.
 */
export const MAX_CLUSTER_FILE_BYTES = 8 * 1024 * 1024;
const LIMIT_TEXT = `${MAX_CLUSTER_FILE_BYTES / 1024 / 1024} MiB`;

function tooLarge(bytes: number, path?: string): ClusterFileError {
  const what = path === undefined ? 'the file' : `the cluster file ${path}`;
  return new ClusterFileError(
    `${what} is ${bytes} bytes, over the limit of ${LIMIT_TEXT} (${MAX_CLUSTER_FILE_BYTES} bytes): ` +
      'check PODNET_CLUSTER_FILE names the cluster file, or split the cluster',
  );
}

/**
 * Reads a cluster file without ever holding more than the limit: undefined when there is none.
 * The size is checked before reading and again on what was read (the file may grow meanwhile).
 * Other read errors are thrown as they are, for the caller to word.
 */
export async function readClusterFileText(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_CLUSTER_FILE_BYTES) throw tooLarge(size, path);
    const buf = Buffer.alloc(MAX_CLUSTER_FILE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > MAX_CLUSTER_FILE_BYTES) throw tooLarge(got, path);
    }
    return buf.toString('utf8', 0, got);
  } finally {
    await handle.close();
  }
}

const KNOWN_KEYS = new Set(['clusterCIDR', 'tunnel', 'topology', 'vxlanPort', 'vni', 'nodes']);
const NODE_KEYS = new Set(['name', 'ip', 'subnet']);

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const DOTTED_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function octets(m: RegExpExecArray): number | undefined {
  let n = 0;
  for (let k = 1; k <= 4; k++) {
    const o = Number(m[k]);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n;
}

/**
 * parseIpv4 and parseCidr (strict) with a fast path for the well-formed text of a cluster file:
 * the general parser costs ~2 us an address, most of a 40k-node file's validation. Anything the
 * fast path does not take goes to the general parser, which gives the same value or the error.
 */
function ipv4(text: string): number {
  const m = DOTTED.exec(text);
  const n = m ? octets(m) : undefined;
  return n ?? parseIpv4(text);
}

function strictCidr(text: string): Ipv4Cidr {
  const m = DOTTED_CIDR.exec(text);
  const network = m ? octets(m) : undefined;
  const prefix = m ? Number(m[5]) : 33;
  if (network !== undefined && prefix <= 32) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (((network & mask) >>> 0) === network) return { network, prefix };
  }
  return parseCidr(text, { strict: true });
}

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

/** The last text judged and its verdict: the watcher's poll and inotify both report one change. */
let last: { text: string; spec: ClusterSpec | undefined; error: string | undefined } | undefined;

/**
 * Parses and validates a cluster file. Every error names the bad entry, so an administrator can
 * fix it; nothing is applied from a file that fails here. O(n log n) in the number of nodes; the
 * text of the previous call is remembered, so an unchanged file is not validated again.
 */
export function parseClusterFile(text: string): ClusterSpec {
  if (last !== undefined && last.text === text) {
    if (last.error !== undefined) throw new ClusterFileError(last.error);
    if (last.spec !== undefined) return last.spec;
  }
  try {
    const spec = validate(text);
    last = { text, spec, error: undefined };
    return spec;
  } catch (err) {
    if (err instanceof ClusterFileError) last = { text, spec: undefined, error: err.message };
    throw err;
  }
}

function validate(text: string): ClusterSpec {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
  if (text.length > MAX_CLUSTER_FILE_BYTES / 3) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_CLUSTER_FILE_BYTES) throw tooLarge(bytes);
  }
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
  const byName = new Map<string, ClusterNode>();
  const byIp = new Map<number, ClusterNode>();
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
      ip = ipv4(e['ip']);
    } catch (err) {
      return bad(at, `ip: ${(err as Error).message}`);
    }
    const first = ip >>> 24;
    if (first === 0 || first === 127 || first >= 224) bad(at, `ip ${e['ip']} cannot be a tunnel endpoint (unspecified, loopback or multicast)`);
    if (contains(clusterCidr, ip)) bad(at, `ip ${e['ip']} lies inside clusterCIDR ${formatCidr(clusterCidr)}: the underlay address must be outside the pod network`);
    if (typeof e['subnet'] !== 'string') bad(at, 'subnet is required, e.g. "10.244.1.0/24"');
    let subnet: Ipv4Cidr;
    try {
      subnet = strictCidr(e['subnet']);
    } catch (err) {
      return bad(at, `subnet: ${(err as Error).message}`);
    }
    if (!covers(clusterCidr, subnet)) bad(at, `subnet ${formatCidr(subnet)} is not inside clusterCIDR ${formatCidr(clusterCidr)}`);
    if (subnet.prefix > 29) bad(at, `subnet ${formatCidr(subnet)} is too small: a /29 or larger`);
    if (byName.has(name)) bad(at, `name ${name} is used twice`);
    const sameIp = byIp.get(ip);
    if (sameIp) bad(at, `ip ${e['ip']} is also the ip of ${sameIp.name}`);
    const node: ClusterNode = { name, ip, ipText: e['ip'], subnet };
    nodes.push(node);
    byName.set(name, node);
    byIp.set(ip, node);
  }
  checkOverlaps(nodes);
  return { clusterCidr, tunnel, topology, vxlanPort, vni, nodes };
}

/**
 * Subnets are prefixes: two either nest or are disjoint. Sorted by network address, larger first
 * on a tie, a subnet that holds others is directly followed by one of them, so if any two overlap
 * some neighbours in that order do. The entry reported is the earliest in the file that overlaps
 * its neighbour, named against that neighbour.
 */
function checkOverlaps(nodes: readonly ClusterNode[]): void {
  const order = nodes.map((_, i) => i);
  order.sort((a, b) => {
    const x = nodes[a] as ClusterNode;
    const y = nodes[b] as ClusterNode;
    return x.subnet.network - y.subnet.network || x.subnet.prefix - y.subnet.prefix || a - b;
  });
  let worst: { later: number; earlier: number } | undefined;
  for (let k = 1; k < order.length; k++) {
    const a = order[k - 1] as number;
    const b = order[k] as number;
    if (!overlaps((nodes[a] as ClusterNode).subnet, (nodes[b] as ClusterNode).subnet)) continue;
    const later = Math.max(a, b);
    if (!worst || later < worst.later) worst = { later, earlier: Math.min(a, b) };
  }
  if (!worst) return;
  const n = nodes[worst.later] as ClusterNode;
  const other = nodes[worst.earlier] as ClusterNode;
  bad(`nodes[${worst.later}] (${n.name})`, `subnet ${formatCidr(n.subnet)} overlaps ${other.name}'s ${formatCidr(other.subnet)}`);
}
