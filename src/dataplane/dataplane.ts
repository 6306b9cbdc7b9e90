import type { FirewallState } from './firewall-rules';
import type { Protocol } from '../model/types';
import type { OverlayState } from './ovs-rules';
import type { VethEvidence } from '../reconcile/lifecycle';

export interface EndpointLinks {
  readonly hostVeth: string;
  readonly peerVeth: string;
}

/** What the driver asks of the host. Implementations: the Linux one, a fake for unit tests. */
export interface Dataplane {
  /** Bridge, gateway address, sysctls. Idempotent. */
  ensureNode(): Promise<void>;
  /** Removes the node plumbing podnet made (bridge if it created it, obr0, chains, jumps). Idempotent. */
  teardownNode(): Promise<void>;
  /**
   * Makes obr0 and its tunnels match the cluster (undefined: single node, no obr0). Returns a
   * warning when the host cannot carry tunnels as configured.
   */
  ensureOverlay(state: OverlayState | undefined): Promise<string | undefined>;
  /** MTU of the underlay interface, for the endpoint MTU. */
  underlayMtu(): Promise<number>;
  /**
   * Creates the veth pair under these names (links already under them are the caller's own:
   * it recorded them for this endpoint). Leaves nothing half-made on failure.
   */
  attachEndpoint(links: EndpointLinks, mtu: number, mac: string): Promise<void>;
  /**
   * Deletes these links, if present. May return before the kernel is done (deleting a link is
   * slow); teardownNode() and close() wait for what is queued.
   */
  detachLinks(names: readonly string[]): void;
  /** Resolves once every deletion queued so far is done. */
  drainLinks(): Promise<void>;
  /** Every veth in the host namespace with where its peer is (one host query). */
  inspectVeths(): Promise<Map<string, VethEvidence>>;
  /** Links queued for deletion and not yet gone. */
  reaping(): { has(name: string): boolean };
  /** Puts live endpoints' veths back on the bridge (it was recreated). */
  reattachVeths(names: readonly string[]): Promise<void>;
  /** Rewrites podnet's firewall chains to exactly this state. */
  applyFirewall(state: FirewallState, opts?: { checkJumps?: boolean }): Promise<void>;
  /** Reserves a host port (fails if a host process uses it). */
  holdHostPort(protocol: Protocol, hostIp: string, port: number): Promise<void>;
  releaseHostPort(protocol: Protocol, hostIp: string, port: number): void;
  /** Drops every in-process reservation and finishes queued removals (shutdown). Kernel state stays. */
  close(): Promise<void>;
}
