import type { Store } from '../store/store';
import type { Settings } from '../settings';
import { formatIpv4 } from '../model/cidr';
import type { Protocol } from '../model/types';
import type { Dataplane, EndpointLinks } from './dataplane';
import type { FirewallState } from './firewall-rules';
import { Firewall } from './firewall';
import { HostPortHolder } from './hostport-holder';
import { HOST_VETH_PATTERN } from './names';
import { errorMessage } from '../errors';
import type { VethEvidence } from '../reconcile/lifecycle';
import * as bridge from './bridge';
import { SerialQueue } from '../util/serial';
import { OvsOverlay, interfaceWithAddress } from './ovs';
import { OVS_NAMES, type OverlayState } from './ovs-rules';
import { VethReaper } from './veth-reaper';
import { closeIpSessions } from './host';

const META_CREATED_BRIDGE = 'created_bridge';
const META_ADDED_ADDRESS = 'added_bridge_address';

/** The dataplane of one node on Linux: kbr0, veths, iptables (tunnels come with the cluster issue). */
export class LinuxDataplane implements Dataplane {
  private readonly firewall = new Firewall();
  private readonly holder = new HostPortHolder();
  private readonly nodeQueue = new SerialQueue();
  private readonly reaper = new VethReaper((names) => bridge.deleteLinks(names));
  private readonly overlay: OvsOverlay;
  private overlayOn = false;

  constructor(
    private readonly settings: Settings,
    private readonly store: Store,
    /** This node's underlay address in a cluster: its interface gives the underlay MTU. */
    private readonly selfIp?: number,
  ) {
    this.overlay = new OvsOverlay(settings.bridge);
  }

  private gatewayCidr(): string {
    return `${formatIpv4(this.settings.gateway)}/${this.settings.clusterCidr.prefix}`;
  }

  ensureNode(): Promise<void> {
    return this.nodeQueue.run(async () => {
      const made = await bridge.ensureBridge(this.settings.bridge, this.gatewayCidr());
      // Remember only what podnet itself made, so teardown leaves a pre-existing bridge alone.
      if (made.createdBridge) this.store.setMeta(META_CREATED_BRIDGE, '1');
      if (made.addedAddress) this.store.setMeta(META_ADDED_ADDRESS, '1');
    });
  }

  ensureOverlay(state: OverlayState | undefined): Promise<string | undefined> {
    return this.nodeQueue.run(async () => {
      if (!state) {
        await this.removeOverlay();
        return undefined;
      }
      await this.overlay.ensure(state);
      this.overlayOn = true;
      return this.selfIp === undefined ? undefined : this.overlay.underlayWarning(state, this.selfIp);
    });
  }

  /** Removes obr0 and its link when podnet made them (also after a restart: the link tells). */
  private async removeOverlay(): Promise<void> {
    if (this.overlayOn || (await bridge.linkExists(OVS_NAMES.linkOnBridge))) await this.overlay.remove(this.settings.ovsBridge);
    this.overlayOn = false;
  }

  teardownNode(): Promise<void> {
    return this.nodeQueue.run(async () => {
      await this.reaper.drain();
      await this.removeOverlay();
      await this.firewall.remove();
      const ours = (await bridge.bridgePorts(this.settings.bridge)).filter((p) => HOST_VETH_PATTERN.test(p));
      await bridge.deleteLinks(ours);
      const foreign = await bridge.bridgePorts(this.settings.bridge);
      await bridge.removeBridge(this.settings.bridge, this.gatewayCidr(), {
        deleteBridge: this.store.getMeta(META_CREATED_BRIDGE) === '1' && foreign.length === 0,
        deleteAddress: this.store.getMeta(META_ADDED_ADDRESS) === '1',
      });
      this.store.setMeta(META_CREATED_BRIDGE, undefined);
      this.store.setMeta(META_ADDED_ADDRESS, undefined);
    });
  }

  async underlayMtu(): Promise<number> {
    const iface = this.settings.underlayIface ?? (this.selfIp === undefined ? undefined : await interfaceWithAddress(this.selfIp));
    return (await bridge.underlayMtu(iface)).mtu;
  }

  async attachEndpoint(links: EndpointLinks, mtu: number, mac: string): Promise<void> {
    // A Join retried after a Leave of the same endpoint must not have its new pair reaped.
    if (this.reaper.has(links.hostVeth) || this.reaper.has(links.peerVeth)) await this.reaper.drain();
    try {
      await bridge.createVethPair({ bridge: this.settings.bridge, ...links, mtu, mac });
    } catch (err) {
      // "File exists" means the names are taken by links that are not this endpoint's: the
      // caller picks others. Anything else: remove what this call may have made.
      if (!/File exists/.test(errorMessage(err))) await bridge.deleteLinks([links.hostVeth, links.peerVeth]).catch(() => undefined);
      throw err;
    }
  }

  detachLinks(names: readonly string[]): void {
    // Deleting one end removes the pair; the peer is named too in case Docker never moved it.
    this.reaper.schedule(names);
  }

  drainLinks(): Promise<void> {
    return this.reaper.drain();
  }

  inspectVeths(): Promise<Map<string, VethEvidence>> {
    return bridge.listVeths();
  }

  reaping(): { has(name: string): boolean } {
    return { has: (n) => this.reaper.has(n) };
  }

  reattachVeths(names: readonly string[]): Promise<void> {
    return bridge.reattachVeths(this.settings.bridge, names);
  }

  applyFirewall(state: FirewallState, opts?: { checkJumps?: boolean }): Promise<void> {
    return this.firewall.apply(state, opts);
  }

  holdHostPort(protocol: Protocol, hostIp: string, port: number): Promise<void> {
    return this.holder.hold(protocol, hostIp, port);
  }

  releaseHostPort(protocol: Protocol, hostIp: string, port: number): void {
    this.holder.release(protocol, hostIp, port);
  }

  async close(): Promise<void> {
    this.holder.releaseAll();
    // Queued deletions are finished, not dropped (each takes tens of ms; a few at most are left).
    await this.reaper.drain();
    closeIpSessions();
  }
}
