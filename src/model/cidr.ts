import * as ip6addr from 'ip6addr';

/** An IPv4 prefix held as integers: cheap to compare and to walk. Leaf module: imports nothing internal. */
export interface Ipv4Cidr {
  readonly network: number; // network address as an unsigned 32-bit integer
  readonly prefix: number;
}

export function parseIpv4(text: string): number {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) throw new Error(`"${text}" is not an IPv4 address`);
  try {
    return ip6addr.parse(text).toLong() >>> 0;
  } catch {
    throw new Error(`"${text}" is not an IPv4 address`);
  }
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 0xff).join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/len". With strict, host bits must be zero (a pool or subnet, not an address). */
export function parseCidr(text: string, opts: { strict?: boolean } = {}): Ipv4Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`"${text}" is not an IPv4 CIDR (expected a.b.c.d/len)`);
  const addr = parseIpv4(m[1]);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new Error(`"${text}": prefix length must be 0-32`);
  const network = (addr & maskOf(prefix)) >>> 0;
  if (opts.strict && network !== addr) {
    throw new Error(`"${text}" has host bits set; did you mean ${formatIpv4(network)}/${prefix}?`);
  }
  return { network, prefix };
}

/** Splits "a.b.c.d/len" into the address and the prefix length, keeping host bits. */
export function parseAddressWithPrefix(text: string): { address: number; prefix: number } {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`"${text}" is not an address in CIDR form`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new Error(`"${text}": prefix length must be 0-32`);
  return { address: parseIpv4(m[1]), prefix };
}

export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function size(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function lastAddress(c: Ipv4Cidr): number {
  return (c.network + size(c) - 1) >>> 0;
}

export function contains(c: Ipv4Cidr, addr: number): boolean {
  return ((addr & maskOf(c.prefix)) >>> 0) === c.network;
}

/** True when every address of inner lies in outer. */
export function covers(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.network);
}

export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return covers(a, b) || covers(b, a);
}

export function sameCidr(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.network === b.network && a.prefix === b.prefix;
}

/** The first usable address of a subnet: podnet's gateway convention (10.244.N.1). */
export function gatewayOf(subnet: Ipv4Cidr): number {
  return (subnet.network + 1) >>> 0;
}

/** A stable, locally administered MAC derived from the IPv4 address, as Docker's bridge does (02:42:...). */
export function macForIpv4(addr: number): string {
  const bytes = [0x02, 0x42, (addr >>> 24) & 0xff, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
