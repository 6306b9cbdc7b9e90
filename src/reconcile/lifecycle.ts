/**
 * The endpoint lifecycle, as a pure function of the store's rows and the kernel's evidence.
 *
 *   RequestAddress -> address allocated (unbound, ageing from allocated_at)
 *   CreateEndpoint -> endpoint `bound`, address bound to it (no other endpoint may hold it)
 *   Join           -> `joining` (link names recorded before the pair is made) -> `joined`
 *   Leave          -> `left` (links queued for deletion)
 *   DeleteEndpoint -> row gone, address unbound again (allocated, ageing from now)
 *   ReleaseAddress -> address row gone, unless it is bound to an endpoint (then: ignored)
 *   any state      -> dead, judged here:
 *       joined: its host veth is gone, or its peer has been back in the host namespace for
 *               longer than SETTLE_MS (Docker moves the container end back when it destroys a
 *               sandbox; the kernel deletes the pair with the namespace). Being a port of the
 *               bridge is no evidence either way: a recreated bridge gets its live veths back.
 *       bound, joining, left: older than the grace period in that state (never joined, a Join
 *               whose answer was lost, a DeleteEndpoint that never came).
 *     dead -> links deleted, host ports and rules gone, row deleted, address quarantined from
 *             that moment -> free once the grace period has passed since the death.
 * Endpoints busy in a request (the endpoint lock) are not judged in that pass.
 */
import type { AddressRecord, EndpointRecord, NetworkRecord, PoolRecord } from '../model/types';

/** How long a joined endpoint's peer may stay in the host namespace: Docker moves it within ms. */
export const SETTLE_MS = 10_000;

/** Links podnet names for endpoints: pn (bridge side) and pt (container side) + 12 hex. */
export const ENDPOINT_LINK_PATTERN = /^p[nt][0-9a-f]{12}$/;

/** What the kernel says of one veth in the host namespace. */
export interface VethEvidence {
  readonly name: string;
  /** The other end is in another network namespace (a sandbox). */
  readonly peerElsewhere: boolean;
  /** The bridge it is a port of, if any. */
  readonly master: string | undefined;
}

export interface LifecycleInput {
  readonly endpoints: readonly EndpointRecord[];
  readonly networks: readonly NetworkRecord[];
  readonly pools: readonly PoolRecord[];
  /** Every veth in the host namespace, by name. */
  readonly veths: ReadonlyMap<string, VethEvidence>;
  /** Endpoints a request is working on now: not judged. */
  readonly busy: ReadonlySet<string>;
  /** Links already queued for deletion. */
  readonly reaping: { has(name: string): boolean };
  readonly bridge: string;
  readonly now: number;
  readonly graceMs: number;
  readonly settleMs?: number;
}

export interface DeadEndpoint {
  readonly endpoint: EndpointRecord;
  readonly reason: string;
}

export interface LifecyclePlan {
  /** Node plumbing wanted: some network exists. */
  readonly nodeWanted: boolean;
  readonly dead: readonly DeadEndpoint[];
  /** Host veths of live endpoints that are not ports of the bridge (it was recreated). */
  readonly reattach: readonly string[];
  /** podnet-named links that no endpoint records. */
  readonly orphans: readonly string[];
  /** Network rows whose pool Docker released (a CreateNetwork that failed after it was stored). */
  readonly staleNetworks: readonly string[];
}

export function judgeEndpoint(ep: EndpointRecord, input: Pick<LifecycleInput, 'veths' | 'now' | 'graceMs' | 'settleMs'>): string | undefined {
  const age = input.now - ep.stateSince;
  if (ep.state !== 'joined') {
    if (age <= input.graceMs) return undefined;
    return ep.state === 'left' ? 'left but never deleted' : ep.state === 'joining' ? 'its Join never completed' : 'never joined';
  }
  const veth = ep.hostVeth === null ? undefined : input.veths.get(ep.hostVeth);
  if (!veth) return 'its veth pair is gone (the sandbox was destroyed)';
  if (veth.peerElsewhere) return undefined;
  if (age <= (input.settleMs ?? SETTLE_MS)) return undefined;
  return 'its container end is back in the host namespace (Docker destroyed the sandbox)';
}

export function planLifecycle(input: LifecycleInput): LifecyclePlan {
  const dead: DeadEndpoint[] = [];
  const reattach: string[] = [];
  const recorded = new Set<string>();
  for (const ep of input.endpoints) {
    if (ep.hostVeth !== null) recorded.add(ep.hostVeth);
    if (ep.peerVeth !== null) recorded.add(ep.peerVeth);
    if (input.busy.has(ep.endpointId)) continue;
    const reason = judgeEndpoint(ep, input);
    if (reason !== undefined) {
      dead.push({ endpoint: ep, reason });
      continue;
    }
    const veth = ep.state === 'joined' && ep.hostVeth !== null ? input.veths.get(ep.hostVeth) : undefined;
    if (veth && veth.master !== input.bridge) reattach.push(veth.name);
  }
  const orphans = [...input.veths.keys()].filter((n) => ENDPOINT_LINK_PATTERN.test(n) && !recorded.has(n) && !input.reaping.has(n)).sort();
  const poolIds = new Set(input.pools.map((p) => p.poolId));
  const staleNetworks = input.networks.filter((n) => n.poolId !== '' && !poolIds.has(n.poolId)).map((n) => n.networkId);
  return {
    nodeWanted: input.networks.length > staleNetworks.length,
    dead,
    reattach,
    orphans,
    staleNetworks,
  };
}

/** Quarantined or never-bound addresses whose time is up (the Ipam frees them). */
export function addressesToFree(rows: readonly AddressRecord[], now: number, graceMs: number): AddressRecord[] {
  return rows.filter((a) => a.kind === 'endpoint' && a.endpointId === null && (a.quarantinedAt ?? a.allocatedAt) < now - graceMs);
}
