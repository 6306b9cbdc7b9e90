import createDebug from 'debug';
import { SettingsError } from '../errors';
import { ipBatch, ipJson, run, writeSysctl, type IpCommand } from './host';
import type { VethEvidence } from '../reconcile/lifecycle';

const debug = createDebug('podnet:bridge');

interface IpLink {
  ifname: string;
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string };
}
interface IpAddrInfo {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dev?: string;
}

export async function linkExists(name: string): Promise<boolean> {
  return (await ipJson<IpLink>(['link', 'show', 'dev', name])).length > 0;
}

/** Names of the ports enslaved to a bridge (one `ip` call, whatever the number of ports). */
export async function bridgePorts(bridge: string): Promise<string[]> {
  return (await ipJson<IpLink>(['link', 'show', 'master', bridge])).map((l) => l.ifname);
}

/**
 * Makes the bridge exist, up, with the gateway address (cluster mask, so the connected route
 * covers the cluster) and forwarding on. Returns what it had to create, so teardown removes only that.
 */
export async function ensureBridge(bridge: string, gatewayCidr: string): Promise<{ createdBridge: boolean; addedAddress: boolean }> {
  const createdBridge = !(await linkExists(bridge));
  const addrs = createdBridge ? [] : await ipJson<IpAddrInfo>(['addr', 'show', 'dev', bridge]);
  const [gw, plen] = gatewayCidr.split('/');
  const hasAddress = addrs.some((a) => (a.addr_info ?? []).some((i) => i.local === gw && String(i.prefixlen) === plen));
  const lines: IpCommand[] = [];
  if (createdBridge) lines.push(['link', 'add', bridge, 'type', 'bridge']);
  if (!hasAddress) lines.push(['addr', 'replace', gatewayCidr, 'dev', bridge]);
  lines.push(['link', 'set', bridge, 'up']);
  await ipBatch(lines);
  await writeSysctl(['net', 'ipv4', 'ip_forward'], '1');
  // Host ports on 127.0.0.1 are DNATed out of this bridge; PODNET-INPUT guards the other direction.
  await writeSysctl(['net', 'ipv4', 'conf', bridge, 'route_localnet'], '1');
  if (createdBridge || !hasAddress) debug('bridge %s: created=%s address added=%s', bridge, createdBridge, !hasAddress);
  return { createdBridge, addedAddress: !hasAddress };
}

export async function removeBridge(bridge: string, gatewayCidr: string, opts: { deleteBridge: boolean; deleteAddress: boolean }): Promise<void> {
  if (!(await linkExists(bridge))) return;
  if (opts.deleteBridge) {
    await run(['ip', 'link', 'del', bridge]);
  } else if (opts.deleteAddress) {
    await ipBatch([['addr', 'del', gatewayCidr, 'dev', bridge]]).catch(() => undefined);
  }
}

/**
 * Creates the veth pair for an endpoint: hostVeth enslaved to the bridge and up, peerVeth left in
 * the host namespace for Docker to move into the sandbox. MTU on both ends: Docker does not set
 * it for remote drivers. Fails with "File exists" when either name is taken: the caller decides
 * whether the links are its own (and deletes them) or picks other names.
 */
export async function createVethPair(opts: { bridge: string; hostVeth: string; peerVeth: string; mtu: number; mac: string }): Promise<void> {
  const mtu = String(opts.mtu);
  await ipBatch([
    // Enslaved and up in the same request that makes it: each extra line is another netlink round.
    ['link', 'add', opts.hostVeth, 'mtu', mtu, 'master', opts.bridge, 'up', 'type', 'veth', 'peer', 'name', opts.peerVeth, 'mtu', mtu, 'address', opts.mac],
    // With br_netfilter (on wherever dockerd runs), a pod's packet to its own host port is DNATed
    // back to the port it came in on: the bridge drops it unless the port is in hairpin mode.
    ['link', 'set', opts.hostVeth, 'type', 'bridge_slave', 'hairpin', 'on'],
  ]);
}

/** Puts live endpoints' veths back on a recreated bridge, as they were made. */
export async function reattachVeths(bridge: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await ipBatch(names.flatMap((n): IpCommand[] => [
    ['link', 'set', n, 'master', bridge, 'up'],
    ['link', 'set', n, 'type', 'bridge_slave', 'hairpin', 'on'],
  ]));
}

interface IpVeth {
  ifname: string;
  link?: string;
  link_netnsid?: number;
  master?: string;
}

/**
 * Every veth in this namespace, with where its peer is (one `ip` call): `link_netnsid` is shown
 * only when the peer lives in another network namespace; a peer here is named by `link`.
 */
export async function listVeths(): Promise<Map<string, VethEvidence>> {
  const links = await ipJson<IpVeth>(['-d', 'link', 'show', 'type', 'veth']);
  return new Map(links.map((l) => [l.ifname, { name: l.ifname, peerElsewhere: l.link_netnsid !== undefined, master: l.master }]));
}

/** Deletes links that exist; absent ones are fine (teardown is idempotent). One request for all. */
export async function deleteLinks(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await ipBatch(names.map((n) => ['link', 'del', n]), { tolerate: /Cannot find device/, lane: 'teardown' });
}

/** MTU of the underlay: the given interface, else the one holding the default route, else 1500. */
export async function underlayMtu(iface: string | undefined): Promise<{ iface: string | undefined; mtu: number }> {
  if (iface !== undefined) {
    const link = (await ipJson<IpLink>(['link', 'show', 'dev', iface]))[0];
    if (!link) throw new SettingsError(`PODNET_UNDERLAY_IFACE=${iface}: no such interface on this host; name an existing one, or unset it to use the default route's`);
    return { iface, mtu: link.mtu };
  }
  const dev = (await ipJson<IpRoute>(['-4', 'route', 'show', 'default']))[0]?.dev;
  if (dev === undefined) return { iface: undefined, mtu: 1500 };
  const link = (await ipJson<IpLink>(['link', 'show', 'dev', dev]))[0];
  return { iface: dev, mtu: link?.mtu ?? 1500 };
}
