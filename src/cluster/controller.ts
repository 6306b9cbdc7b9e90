import { hostname } from 'node:os';
import createDebug from 'debug';
import { errorMessage } from '../errors';
import { formatCidr, parseIpv4, sameCidr } from '../model/cidr';
import { ipJson } from '../dataplane/host';
import type { OverlayState } from '../dataplane/ovs-rules';
import type { Settings } from '../settings';
import { resolveCluster, type ClusterConfig, type LocalIdentity } from './cluster-config';
import type { MembershipSource } from './static-file-source';
import { SerialQueue } from '../util/serial';

const debug = createDebug('podnet:cluster');

/** This host's IPv4 addresses and name: how it finds itself in the cluster file. */
export async function localIdentity(): Promise<LocalIdentity> {
  const links = await ipJson<{ addr_info?: { local: string }[] }>(['-4', 'addr', 'show']);
  const addresses = new Set<number>();
  for (const l of links) for (const a of l.addr_info ?? []) addresses.add(parseIpv4(a.local));
  return { addresses, hostname: hostname() };
}

/**
 * Holds the cluster configuration this node runs with and replaces it when the source changes.
 * A change that would move this node's subnet or the cluster CIDR is refused: addresses already
 * handed out would become wrong. Everything else (peers, tunnel parameters) applies live.
 */
export class ClusterController {
  private config: ClusterConfig;
  /** Reloads run one at a time, in the order asked: the one asked last reads last, and wins. */
  private readonly reloads = new SerialQueue();
  /** A reload asked for but not begun yet: later askers share it (it will read what they changed). */
  private waiting: Promise<boolean> | undefined;

  private constructor(
    private readonly base: Settings,
    private readonly source: MembershipSource,
    initial: ClusterConfig,
    private readonly datapath: 'system' | 'netdev',
    private readonly identity: () => Promise<LocalIdentity>,
  ) {
    this.config = initial;
  }

  /** `identity` finds this host's addresses and name (tests give a fixed one). */
  static async start(
    base: Settings,
    source: MembershipSource,
    datapath: 'system' | 'netdev',
    identity: () => Promise<LocalIdentity> = localIdentity,
  ): Promise<ClusterController> {
    const config = resolveCluster(base, await source.list(), await identity());
    return new ClusterController(base, source, config, datapath, identity);
  }

  get current(): ClusterConfig {
    return this.config;
  }

  /** The overlay this node should have: none in single-node mode. */
  overlay(): OverlayState | undefined {
    const c = this.config;
    if (!c.self) return undefined;
    return {
      ovsBridge: c.settings.ovsBridge,
      datapath: this.datapath,
      tunnel: c.settings.tunnel,
      topology: c.settings.topology,
      vxlanPort: c.settings.vxlanPort,
      vni: c.vni,
      peers: c.peers,
    };
  }

  /**
   * Re-reads the source; resolves true when the configuration changed and was taken. Reloads never
   * overlap (an older read finishing last would put old content back); a burst of calls while one
   * runs costs one more read, which sees everything the burst announced.
   */
  reload(): Promise<boolean> {
    if (this.waiting) return this.waiting;
    const queued = this.reloads.run(() => {
      this.waiting = undefined; // from here on, a new change needs a new read
      return this.reloadNow();
    });
    this.waiting = queued;
    return queued;
  }

  private async reloadNow(): Promise<boolean> {
    let next: ClusterConfig;
    try {
      next = resolveCluster(this.base, await this.source.list(), await this.identity());
    } catch (err) {
      console.error(`podnet: cluster change refused, running configuration kept: ${errorMessage(err)}`);
      return false;
    }
    const now = this.config.settings;
    if (!sameCidr(next.settings.clusterCidr, now.clusterCidr) || !sameCidr(next.settings.nodeSubnet, now.nodeSubnet)) {
      console.error(
        `podnet: cluster change refused, running configuration kept: it moves this node from ${formatCidr(now.nodeSubnet)} ` +
          `in ${formatCidr(now.clusterCidr)} to ${formatCidr(next.settings.nodeSubnet)} in ${formatCidr(next.settings.clusterCidr)}, ` +
          'which would invalidate the addresses of its pods; remove podnet\'s containers and networks, then restart podnet',
      );
      return false;
    }
    const before = JSON.stringify(this.overlay());
    this.config = next;
    const changed = JSON.stringify(this.overlay()) !== before;
    if (changed) debug('cluster now: %d peer(s): %s', next.peers.length, next.peers.map((p) => p.name).join(', '));
    return changed;
  }

  watch(onChange: () => void): () => void {
    return this.source.watch(onChange);
  }
}
