/**
 * A Dataplane that changes nothing on the host: it records every call and keeps a small model of
 * what the Linux one would have made (node plumbing, veths, held host ports, the last firewall
 * state), so driver and API tests can assert on the effects without root.
 */
import { ConflictError } from '../../src/errors';
import type { Dataplane } from '../../src/dataplane/dataplane';
import type { OverlayState } from '../../src/dataplane/ovs-rules';
import type { FirewallState } from '../../src/dataplane/firewall-rules';
import { containerVethName, hostVethName } from '../../src/dataplane/names';
import type { Protocol } from '../../src/model/types';

export interface DataplaneCall {
  readonly method: keyof Dataplane;
  readonly args: readonly unknown[];
}

export interface FakeVeth {
  readonly endpointId: string;
  readonly hostVeth: string;
  readonly peerVeth: string;
  readonly mtu: number;
  readonly mac: string;
}

export function portKey(protocol: Protocol, hostIp: string, port: number): string {
  return `${protocol}/${hostIp || '0.0.0.0'}:${port}`;
}

export class FakeDataplane implements Dataplane {
  readonly calls: DataplaneCall[] = [];
  /** True between ensureNode and teardownNode. */
  nodeUp = false;
  /** Host-side veth name -> the pair. */
  readonly veths = new Map<string, FakeVeth>();
  /** Host ports held (portKey). */
  readonly heldPorts = new Set<string>();
  /** Host ports a pretend host process already uses: holdHostPort fails on them as the real holder does. */
  readonly busyPorts = new Set<string>();
  /** What podnet's chains hold now (undefined: no chains). */
  firewall: FirewallState | undefined;
  underlay = 1500;
  /** Milliseconds holdHostPort takes, as binding a real socket does (0: a microtask). */
  holdDelayMs = 0;
  /** When set, ensureNode fails with it (a host command failing). */
  failEnsureNode: Error | undefined;
  closed = false;

  private record(method: keyof Dataplane, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  /** The calls of one method, in order. */
  callsOf(method: keyof Dataplane): DataplaneCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async ensureNode(): Promise<void> {
    this.record('ensureNode');
    if (this.failEnsureNode) throw this.failEnsureNode;
    this.nodeUp = true;
  }

  async teardownNode(): Promise<void> {
    this.record('teardownNode');
    this.nodeUp = false;
    this.firewall = undefined;
    this.veths.clear();
  }

  /** The overlay last asked for (undefined: none). */
  overlay: OverlayState | undefined;
  /** What ensureOverlay reports, as the Linux one does when the host cannot carry tunnels. */
  overlayWarning: string | undefined;

  async ensureOverlay(state: OverlayState | undefined): Promise<string | undefined> {
    this.record('ensureOverlay', state);
    this.overlay = state;
    return this.overlayWarning;
  }

  async underlayMtu(): Promise<number> {
    this.record('underlayMtu');
    return this.underlay;
  }

  async attachEndpoint(endpointId: string, mtu: number, mac: string): Promise<{ hostVeth: string; peerVeth: string }> {
    this.record('attachEndpoint', endpointId, mtu, mac);
    const hostVeth = hostVethName(endpointId);
    const peerVeth = containerVethName(endpointId);
    this.veths.set(hostVeth, { endpointId, hostVeth, peerVeth, mtu, mac });
    return { hostVeth, peerVeth };
  }

  async detachEndpoint(endpointId: string): Promise<void> {
    this.record('detachEndpoint', endpointId);
    this.veths.delete(hostVethName(endpointId));
  }

  async listEndpointVeths(): Promise<string[]> {
    this.record('listEndpointVeths');
    return [...this.veths.keys()];
  }

  async removeVeths(names: readonly string[]): Promise<void> {
    this.record('removeVeths', [...names]);
    for (const n of names) this.veths.delete(n);
  }

  async applyFirewall(state: FirewallState, opts?: { checkJumps?: boolean }): Promise<void> {
    this.record('applyFirewall', state, opts);
    this.firewall = state;
  }

  async holdHostPort(protocol: Protocol, hostIp: string, port: number): Promise<void> {
    this.record('holdHostPort', protocol, hostIp, port);
    if (this.holdDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.holdDelayMs));
    const k = portKey(protocol, hostIp, port);
    if (this.busyPorts.has(k)) {
      throw new ConflictError(`host port ${hostIp || '0.0.0.0'}:${port}/${protocol} is already in use by a process on this host`);
    }
    // Like the real HostPortHolder: holding a port already held is a no-op.
    this.heldPorts.add(k);
  }

  releaseHostPort(protocol: Protocol, hostIp: string, port: number): void {
    this.record('releaseHostPort', protocol, hostIp, port);
    this.heldPorts.delete(portKey(protocol, hostIp, port));
  }

  async close(): Promise<void> {
    this.record('close');
    this.heldPorts.clear();
    this.closed = true;
  }
}
