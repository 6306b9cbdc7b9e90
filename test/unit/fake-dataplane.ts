/**
 * A Dataplane that changes nothing on the host: it records every call and keeps a small model of
 * what the Linux one would have made (node plumbing, veths, held host ports, the last firewall
 * state), so driver and API tests can assert on the effects without root.
 */
import { ConflictError } from '../../src/errors';
import type { Dataplane, EndpointLinks } from '../../src/dataplane/dataplane';
import type { OverlayState } from '../../src/dataplane/ovs-rules';
import type { FirewallState } from '../../src/dataplane/firewall-rules';
import type { VethEvidence } from '../../src/reconcile/lifecycle';
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
  /** False: the container end is back in the host namespace (Docker destroyed the sandbox). */
  readonly peerElsewhere?: boolean;
  /** The bridge it is a port of; undefined after the bridge was deleted. */
  readonly master?: string | undefined;
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
  readonly bridge = 'kbr0';
  /** Which endpoint a host veth name was made for (tests read FakeVeth.endpointId). */
  endpointOf: (hostVeth: string) => string = () => '';
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

  async attachEndpoint(links: EndpointLinks, mtu: number, mac: string): Promise<void> {
    this.record('attachEndpoint', links, mtu, mac);
    if (this.veths.has(links.hostVeth) || [...this.veths.values()].some((v) => v.peerVeth === links.peerVeth)) {
      throw new Error(`RTNETLINK answers: File exists (${links.hostVeth})`);
    }
    // The fake models the state after Docker moved the container end into the sandbox.
    this.veths.set(links.hostVeth, { endpointId: this.endpointOf(links.hostVeth), ...links, mtu, mac, peerElsewhere: true, master: this.bridge });
  }

  detachLinks(names: readonly string[]): void {
    this.record('detachLinks', [...names]);
    for (const n of names) this.veths.delete(n);
  }

  async drainLinks(): Promise<void> {
    this.record('drainLinks');
  }

  async inspectVeths(): Promise<Map<string, VethEvidence>> {
    this.record('inspectVeths');
    return new Map([...this.veths.values()].map((v) => [v.hostVeth, { name: v.hostVeth, peerElsewhere: v.peerElsewhere ?? true, master: v.master }]));
  }

  reaping(): { has(name: string): boolean } {
    return { has: () => false };
  }

  async reattachVeths(names: readonly string[]): Promise<void> {
    this.record('reattachVeths', [...names]);
    for (const n of names) {
      const v = this.veths.get(n);
      if (v) this.veths.set(n, { ...v, master: this.bridge });
    }
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
