import { formatCidr, formatIpv4, type Ipv4Cidr } from '../model/cidr';
import type { Topology, TunnelType } from '../settings';

/** Names of podnet's OVS side. The veth pair joins kbr0 and obr0. */
export const OVS_NAMES = {
  linkOnBridge: 'podnet-kbr', // the end enslaved to kbr0
  linkOnOvs: 'podnet-obr', // the end added to obr0
  flowTunnel: 'podnet-tun', // flow topology: one flow-based tunnel port
} as const;

export const LINK_OFPORT = 1;
export const TUNNEL_OFPORT = 2;

export interface OverlayPeer {
  readonly name: string;
  readonly ip: number;
  readonly subnet: Ipv4Cidr;
}

/** Everything the overlay of one node should be. */
export interface OverlayState {
  readonly ovsBridge: string;
  readonly datapath: 'system' | 'netdev';
  readonly tunnel: TunnelType;
  readonly topology: Topology;
  readonly vxlanPort: number;
  readonly vni: number;
  readonly peers: readonly OverlayPeer[];
}

/** Mesh: one tunnel port per peer, named after its underlay address (stays within 15 characters). */
export function meshPortName(ip: number): string {
  return `pnt-${(ip >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * Sets the whole options map at once, so a live change (vxlan -> gre, a new key) leaves no stale
 * option behind. Values are quoted: ovs-vsctl takes bare strings only when they start with a letter.
 */
function tunnelInterfaceArgs(port: string, s: OverlayState, options: Record<string, string>, extra: string[]): string[] {
  const all = { ...options, ...(s.tunnel === 'vxlan' ? { dst_port: String(s.vxlanPort) } : {}) };
  const map = Object.entries(all).map(([k, v]) => `${k}="${v}"`).join(',');
  return ['set', 'interface', port, `type=${s.tunnel}`, `options={${map}}`, ...extra];
}

export function isPodnetPort(port: string): boolean {
  return port === OVS_NAMES.linkOnOvs || port === OVS_NAMES.flowTunnel || /^pnt-[0-9a-f]{8}$/.test(port);
}

/** The ports obr0 should have. */
export function desiredPorts(s: OverlayState): string[] {
  if (s.topology === 'flow') return [OVS_NAMES.linkOnOvs, OVS_NAMES.flowTunnel];
  return [OVS_NAMES.linkOnOvs, ...s.peers.map((p) => meshPortName(p.ip))];
}

/**
 * The most bytes of arguments one ovs-vsctl is given. Linux refuses an exec whose argv and
 * environment pass ARG_MAX (2 MiB with the default 8 MiB stack) with E2BIG; a mesh puts ~210
 * bytes per peer, so 10k peers would not start at all. A quarter of that keeps ample room for the
 * environment (and the kernel's count of argv pointers), and is ~2500 peers a transaction.
 */
export const MAX_VSCTL_ARGV_BYTES = 512 * 1024;

/** One ovs-vsctl command: [options..., name, args...]. */
type Command = string[];

/**
 * The commands that make obr0 as desired, in units that must stay in one transaction (a port's
 * add-port with its set commands): the bridge and its link first, then one unit per mesh peer,
 * then one per stale podnet port to delete.
 */
function vsctlUnits(s: OverlayState, existingPorts: readonly string[]): Command[][] {
  const br = s.ovsBridge;
  const bridgeSet: Command = ['set', 'bridge', br, `datapath_type=${s.datapath}`];
  const base: Command[] = [['--may-exist', 'add-br', br], bridgeSet];
  if (s.topology === 'flow') {
    // No flooding, no loops, no STP: only the flows podnet writes forward anything.
    bridgeSet.push('fail-mode=secure', 'rstp_enable=false', 'stp_enable=false');
  } else {
    // The seed's full mesh: normal learning switch, RSTP breaks the loops (classic STP would hold a new port ~30 s).
    // Short RSTP timers (the minimum valid set: 2 x (forward delay - 1) >= max age) bound the fall-back to
    // timers; tunnel ports are declared point-to-point so that RSTP can use its rapid handshake.
    bridgeSet.push('rstp_enable=true', 'stp_enable=false', 'other_config:rstp-forward-delay=4', 'other_config:rstp-max-age=6');
    base.push(['clear', 'bridge', br, 'fail_mode']);
  }
  base.push(['--may-exist', 'add-port', br, OVS_NAMES.linkOnOvs], ['set', 'interface', OVS_NAMES.linkOnOvs, `ofport_request=${LINK_OFPORT}`]);
  if (s.topology === 'mesh') {
    base.push(['set', 'port', OVS_NAMES.linkOnOvs, 'other_config:rstp-port-admin-edge=true', 'other_config:rstp-port-auto-edge=false']);
  }
  const units: Command[][] = [base];
  if (s.topology === 'flow') {
    base.push(['--may-exist', 'add-port', br, OVS_NAMES.flowTunnel]);
    base.push(tunnelInterfaceArgs(OVS_NAMES.flowTunnel, s, { remote_ip: 'flow', key: 'flow' }, [`ofport_request=${TUNNEL_OFPORT}`]));
  } else {
    for (const p of s.peers) {
      const port = meshPortName(p.ip);
      units.push([
        ['--may-exist', 'add-port', br, port],
        // Mesh GRE carries no key (38 bytes of overhead, DESIGN.md); VXLAN always has its VNI.
        tunnelInterfaceArgs(port, s, { remote_ip: formatIpv4(p.ip), ...(s.tunnel === 'vxlan' ? { key: String(s.vni) } : {}) }, []),
        ['set', 'port', port, 'other_config:rstp-port-admin-p2p-mac=true'],
      ]);
    }
  }
  // Only podnet's own ports go: an administrator's ports on obr0 are left alone.
  const wanted = new Set(desiredPorts(s));
  for (const port of existingPorts) {
    if (!wanted.has(port) && isPodnetPort(port)) units.push([['--if-exists', 'del-port', br, port]]);
  }
  return units;
}

/** Commands joined into one ovs-vsctl argv: "cmd args -- cmd args ...". */
function joinCommands(commands: readonly Command[]): string[] {
  return commands.flatMap((c, i) => (i === 0 ? c : ['--', ...c]));
}

/** Bytes an argument takes in the exec'd argv (its text and its NUL). */
function argBytes(args: readonly string[]): number {
  let n = 0;
  for (const a of args) n += Buffer.byteLength(a) + 1;
  return n;
}

/**
 * One ovs-vsctl transaction that makes obr0, its link port and tunnel ports exist as desired,
 * and deletes podnet ports that should not be there. Idempotent (--may-exist, set). Unbounded:
 * what runs is buildVsctlTransactions (a large mesh does not fit one argv).
 */
export function buildVsctlTransaction(s: OverlayState, existingPorts: readonly string[]): string[] {
  return joinCommands(vsctlUnits(s, existingPorts).flat());
}

/**
 * The transaction of buildVsctlTransaction cut into ovs-vsctl argvs of at most maxBytes each, to
 * be run in order: the bridge and its link first, then the mesh peers' ports (a port's add-port
 * and its set commands always together), then the deletions of stale ports. Each is idempotent, so
 * a run cut short midway is completed by the next. One argv whenever it fits (flow: always).
 */
export function buildVsctlTransactions(s: OverlayState, existingPorts: readonly string[], maxBytes = MAX_VSCTL_ARGV_BYTES): string[][] {
  const out: string[][] = [];
  let current: Command[] = [];
  let bytes = 0;
  for (const unit of vsctlUnits(s, existingPorts)) {
    // Each command after the first of an argv is preceded by a "--" (3 bytes).
    const cost = unit.reduce((n, c) => n + argBytes(c) + 3, 0);
    if (current.length > 0 && bytes + cost > maxBytes) {
      out.push(joinCommands(current));
      current = [];
      bytes = 0;
    }
    current.push(...unit);
    bytes += cost;
  }
  if (current.length > 0) out.push(joinCommands(current));
  return out;
}

/**
 * The complete flow table of obr0 (ovs-ofctl replace-flows: only differences are applied, so a
 * reconcile puts back exactly what is missing). Flow topology: per peer, IP and ARP for its node
 * subnet go to its underlay address; whatever comes from the tunnel goes to kbr0.
 */
export function buildFlows(s: OverlayState, ofports: { link: number; tunnel: number } = { link: LINK_OFPORT, tunnel: TUNNEL_OFPORT }): string {
  if (s.topology === 'mesh') return 'table=0,priority=0,actions=NORMAL\n';
  const LINK_OFPORT = ofports.link;
  const TUNNEL_OFPORT = ofports.tunnel;
  const lines: string[] = [];
  for (const p of s.peers) {
    const to = `actions=set_field:${formatIpv4(p.ip)}->tun_dst,set_field:${s.vni}->tun_id,output:${TUNNEL_OFPORT}`;
    const subnet = formatCidr(p.subnet);
    lines.push(`table=0,priority=100,in_port=${LINK_OFPORT},ip,nw_dst=${subnet},${to}`);
    lines.push(`table=0,priority=100,in_port=${LINK_OFPORT},arp,arp_tpa=${subnet},${to}`);
  }
  lines.push(`table=0,priority=100,in_port=${TUNNEL_OFPORT},tun_id=${s.vni},actions=output:${LINK_OFPORT}`);
  return lines.join('\n') + '\n';
}
