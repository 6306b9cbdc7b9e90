import type { FirewallState } from './firewall-rules';
import type { Protocol } from '../model/types';
import type { OverlayState } from './ovs-rules';

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
  /** Creates the veth pair; returns the host-side name and the name Docker moves into the sandbox. */
  attachEndpoint(endpointId: string, mtu: number, mac: string): Promise<{ hostVeth: string; peerVeth: string }>;
  /**
   * Removes the veth pair of an endpoint, if present. May return before the kernel is done
   * (deleting a link is slow); teardownNode() and close() wait for what is queued.
   */
  detachEndpoint(endpointId: string): Promise<void>;
  /** Host-side veths on the bridge right now (one host query). */
  listEndpointVeths(): Promise<string[]>;
  /** Deletes host-side veths that belong to no endpoint. */
  removeVeths(names: readonly string[]): Promise<void>;
  /** Rewrites podnet's firewall chains to exactly this state. */
  applyFirewall(state: FirewallState, opts?: { checkJumps?: boolean }): Promise<void>;
  /** Reserves a host port (fails if a host process uses it). */
  holdHostPort(protocol: Protocol, hostIp: string, port: number): Promise<void>;
  releaseHostPort(protocol: Protocol, hostIp: string, port: number): void;
  /** Drops every in-process reservation and finishes queued removals (shutdown). Kernel state stays. */
  close(): Promise<void>;
}
