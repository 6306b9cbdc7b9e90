import type { Topology, TunnelType } from '../settings';

/**
 * Bytes a tunnel adds to every pod packet over an IPv4 underlay (DESIGN.md, MTU): outer Ethernet
 * 14 + IP 20, then GRE 4 (+4 for the key a flow-based port sets) or UDP 8 + VXLAN 8.
 */
export function tunnelOverhead(tunnel: TunnelType, topology: Topology, underlayIpv6 = false): number {
  const base = tunnel === 'vxlan' ? 50 : topology === 'flow' ? 42 : 38;
  return base + (underlayIpv6 ? 20 : 0);
}

/** Endpoint MTU: the user's choice when given, else underlay MTU minus tunnel overhead (on one node too). */
export function endpointMtu(opts: {
  readonly override: number | undefined;
  readonly underlayMtu: number;
  readonly tunnel: TunnelType;
  readonly topology: Topology;
}): number {
  if (opts.override !== undefined) return opts.override;
  return opts.underlayMtu - tunnelOverhead(opts.tunnel, opts.topology);
}
