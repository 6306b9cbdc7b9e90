import createDebug from 'debug';
import { CommandFailedError, PodnetError } from '../errors';
import { ipBatch, ipJson, run } from './host';
import { deleteLinks, linkExists } from './bridge';
import { buildFlows, buildVsctlTransactions, LINK_OFPORT, OVS_NAMES, TUNNEL_OFPORT, type OverlayState } from './ovs-rules';
import { formatIpv4 } from '../model/cidr';

const debug = createDebug('podnet:ovs');

async function ovs(program: 'ovs-vsctl' | 'ovs-ofctl', args: readonly string[], input?: string): Promise<string> {
  try {
    return (await run([program, ...(program === 'ovs-vsctl' ? ['--timeout=10'] : []), ...args], { input })).stdout;
  } catch (err) {
    if (err instanceof CommandFailedError && (err.exitCode === null || /ENOENT|database connection failed|No such file/.test(err.stderr))) {
      throw new PodnetError(
        'PODNET_ERR_COMMAND_FAILED',
        `Open vSwitch is needed for a multi-host cluster and is not usable here (${err.stderr.trim() || err.message}): ` +
          'install openvswitch-switch and start ovsdb-server and ovs-vswitchd',
        { cause: err },
      );
    }
    throw err;
  }
}

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string }[];
}

/** The interface that holds an IPv4 address on this host, if any. */
export async function interfaceWithAddress(ip: number): Promise<string | undefined> {
  const want = formatIpv4(ip);
  const links = await ipJson<IpAddr>(['-4', 'addr', 'show']);
  return links.find((l) => (l.addr_info ?? []).some((a) => a.local === want))?.ifname;
}

/**
 * obr0 and its tunnels, joined to kbr0 by a veth pair. Every call makes the whole overlay match
 * the desired state: one ovs-vsctl transaction (a few for a mesh of thousands of peers, each within
 * the argv limit) and one replace-flows, whatever the cluster size.
 */
export class OvsOverlay {
  constructor(private readonly bridge: string) {}

  async ensure(s: OverlayState): Promise<void> {
    if (!(await linkExists(OVS_NAMES.linkOnBridge))) {
      await ipBatch([
        ['link', 'add', OVS_NAMES.linkOnBridge, 'type', 'veth', 'peer', 'name', OVS_NAMES.linkOnOvs],
        ['link', 'set', OVS_NAMES.linkOnBridge, 'master', this.bridge, 'up'],
        ['link', 'set', OVS_NAMES.linkOnOvs, 'up'],
      ]);
      if (s.datapath === 'netdev') {
        // The userspace datapath drops the TSO/GSO super-packets a veth hands it (HOST-LAB.md):
        // offloads off on this pair only, never on pod veths.
        for (const dev of [OVS_NAMES.linkOnBridge, OVS_NAMES.linkOnOvs]) {
          await run(['ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
        }
      }
    }
    const existing = (await ovs('ovs-vsctl', ['list-ports', s.ovsBridge]).catch(() => ''))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    // One transaction when it fits an argv; a large mesh is several, bridge first (E2BIG otherwise).
    for (const argv of buildVsctlTransactions(s, existing)) await ovs('ovs-vsctl', argv);
    // ofport_request is only a request: a port deleted and another added in one transaction can
    // leave the new one on another number. The flows use the numbers OVS really gave.
    let ofports = { link: LINK_OFPORT, tunnel: TUNNEL_OFPORT };
    if (s.topology === 'flow') {
      const [link, tunnel] = (await ovs('ovs-vsctl', ['get', 'interface', OVS_NAMES.linkOnOvs, 'ofport', '--', 'get', 'interface', OVS_NAMES.flowTunnel, 'ofport']))
        .split('\n')
        .map((l) => Number(l.trim()));
      if (link !== undefined && link > 0 && tunnel !== undefined && tunnel > 0) ofports = { link, tunnel };
    }
    // OpenFlow 1.4 bundles: the new table replaces the old atomically (no gap in forwarding).
    await ovs('ovs-ofctl', ['-O', 'OpenFlow14', '--bundle', 'replace-flows', s.ovsBridge, '-'], buildFlows(s, ofports));
    debug('%s: %s/%s, %d peer(s)', s.ovsBridge, s.tunnel, s.topology, s.peers.length);
  }

  /** For the userspace datapath: tunnels leave only if the underlay address is on an OVS bridge. */
  async underlayWarning(s: OverlayState, selfIp: number): Promise<string | undefined> {
    if (s.datapath !== 'netdev') return undefined;
    const iface = await interfaceWithAddress(selfIp);
    if (!iface) return `this node's cluster ip ${formatIpv4(selfIp)} is on no interface: tunnels cannot leave; put it on the underlay interface`;
    // The address sits on a bridge's own local port (brphy) or on an internal port of a bridge.
    const ok = (args: string[]): Promise<boolean> => ovs('ovs-vsctl', args).then(() => true, () => false);
    const onOvs = (await ok(['br-exists', iface])) || (await ok(['iface-to-br', iface]));
    if (onOvs) return undefined;
    return (
      `the OVS userspace datapath (netdev) sends tunnel traffic only from an address on an OVS bridge, and ${formatIpv4(selfIp)} is on ${iface}: ` +
      'move the underlay NIC into an OVS bridge (datapath_type=netdev) and the address onto that bridge (README, multi-host), or use the kernel datapath'
    );
  }

  async remove(ovsBridge: string): Promise<void> {
    await run(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', ovsBridge]).catch((err: unknown) => {
      debug('del-br %s: %s', ovsBridge, (err as Error).message); // no OVS at all: nothing to remove
    });
    await deleteLinks([OVS_NAMES.linkOnBridge]);
  }
}
