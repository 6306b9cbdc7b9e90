import { formatCidr, formatIpv4, type Ipv4Cidr } from '../model/cidr';
import type { Protocol } from '../model/types';

/** podnet's own chains. Each is reached by one jump, inserted first in its built-in chain. */
export const CHAINS = {
  forward: 'PODNET-FORWARD',
  input: 'PODNET-INPUT',
  postrouting: 'PODNET-POSTROUTING',
  hostports: 'PODNET-HOSTPORTS',
} as const;

/**
 * Marks host-port connections that must be masqueraded: from loopback, and from pods, whose replies
 * would otherwise go straight back over the bridge or a tunnel, skipping the reverse NAT.
 */
export const MASQ_MARK = '0x1000/0x1000';

export type Table = 'filter' | 'nat';

export interface Jump {
  readonly table: Table;
  readonly chain: string; // built-in chain
  readonly rule: string; // matches and target, as iptables-save prints them after "-A CHAIN "
}

export const JUMPS: readonly Jump[] = [
  { table: 'filter', chain: 'FORWARD', rule: `-j ${CHAINS.forward}` },
  { table: 'filter', chain: 'INPUT', rule: `-j ${CHAINS.input}` },
  { table: 'nat', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${CHAINS.hostports}` },
  { table: 'nat', chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${CHAINS.hostports}` },
  { table: 'nat', chain: 'POSTROUTING', rule: `-j ${CHAINS.postrouting}` },
];

export interface HostPortRule {
  readonly protocol: Protocol;
  readonly hostIp: string; // '' = every local address
  readonly hostPort: number;
  readonly podIp: number;
  readonly containerPort: number;
}

/** Everything podnet's chains should hold, derived from the store. */
export interface FirewallState {
  readonly bridge: string;
  readonly clusterCidr: Ipv4Cidr;
  /** --internal: no egress, no masquerade, no host ports. */
  readonly internal: boolean;
  readonly hostPorts: readonly HostPortRule[];
}

function chainRules(s: FirewallState): Record<Table, string[]> {
  const br = s.bridge;
  const cluster = formatCidr(s.clusterCidr);
  const filter: string[] = [
    `-A ${CHAINS.forward} -i ${br} -o ${br} -j ACCEPT`,
    `-A ${CHAINS.forward} -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
  if (s.internal) {
    filter.push(`-A ${CHAINS.forward} -i ${br} -j DROP`, `-A ${CHAINS.forward} -o ${br} -j DROP`);
  } else {
    filter.push(
      `-A ${CHAINS.forward} -o ${br} -m conntrack --ctstate DNAT -j ACCEPT`,
      `-A ${CHAINS.forward} -i ${br} -j ACCEPT`,
    );
  }
  // route_localnet is on for the bridge (host ports on 127.0.0.1); without this guard a pod could
  // reach services bound to the host's loopback (CVE-2020-8558).
  filter.push(
    `-A ${CHAINS.input} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
  );

  const nat: string[] = [`-A ${CHAINS.postrouting} -m mark --mark ${MASQ_MARK} -j MASQUERADE`];
  if (!s.internal) {
    nat.push(`-A ${CHAINS.postrouting} -s ${cluster} ! -d ${cluster} -j MASQUERADE`);
    for (const h of s.hostPorts) {
      const match = `-p ${h.protocol} -m ${h.protocol} --dport ${h.hostPort}${h.hostIp ? ` -d ${h.hostIp}/32` : ''}`;
      nat.push(
        `-A ${CHAINS.hostports} ${match} -s 127.0.0.0/8 -j MARK --set-xmark ${MASQ_MARK}`,
        `-A ${CHAINS.hostports} ${match} -s ${cluster} -j MARK --set-xmark ${MASQ_MARK}`,
        `-A ${CHAINS.hostports} ${match} -j DNAT --to-destination ${formatIpv4(h.podIp)}:${h.containerPort}`,
      );
    }
  }
  return { filter, nat };
}

const CHAINS_OF: Record<Table, readonly string[]> = {
  filter: [CHAINS.forward, CHAINS.input],
  nat: [CHAINS.postrouting, CHAINS.hostports],
};

/**
 * The iptables-restore --noflush payload that rewrites podnet's chains (a chain declaration
 * flushes it) and inserts the missing jumps, atomically per table.
 */
export function buildRestorePayload(s: FirewallState, missingJumps: readonly Jump[]): string {
  const rules = chainRules(s);
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    out.push(`*${table}`);
    for (const c of CHAINS_OF[table]) out.push(`:${c} - [0:0]`);
    out.push(...rules[table]);
    for (const j of missingJumps.filter((j) => j.table === table)) out.push(`-I ${j.chain} 1 ${j.rule}`);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** What iptables-save shows of podnet: which chains exist and how many times each jump is present. */
export interface FirewallPresence {
  readonly chains: ReadonlySet<string>;
  readonly jumpCounts: ReadonlyMap<Jump, number>;
}

export function parseSave(save: string): FirewallPresence {
  const chains = new Set<string>();
  const jumpCounts = new Map<Jump, number>(JUMPS.map((j) => [j, 0]));
  let table: string | undefined;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':PODNET-')) chains.add(line.slice(1).split(' ')[0] as string);
    else if (line.startsWith('-A ')) {
      for (const j of JUMPS) {
        if (j.table === table && line === `-A ${j.chain} ${j.rule}`) jumpCounts.set(j, (jumpCounts.get(j) ?? 0) + 1);
      }
    }
  }
  return { chains, jumpCounts };
}

/** Payload that removes every podnet jump and chain that exists. */
export function buildRemovalPayload(p: FirewallPresence): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const lines: string[] = [];
    for (const j of JUMPS.filter((j) => j.table === table)) {
      for (let i = 0; i < (p.jumpCounts.get(j) ?? 0); i++) lines.push(`-D ${j.chain} ${j.rule}`);
    }
    const present = CHAINS_OF[table].filter((c) => p.chains.has(c));
    for (const c of present) lines.push(`-F ${c}`);
    for (const c of present) lines.push(`-X ${c}`);
    if (lines.length > 0) out.push(`*${table}`, ...lines, 'COMMIT');
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
