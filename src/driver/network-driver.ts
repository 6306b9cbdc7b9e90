import createDebug from 'debug';
import { ConflictError, InvalidOptionError, InvalidRequestError, NotFoundError, PodnetError, UnsupportedError, errorMessage } from '../errors';
import { contains, formatCidr, formatIpv4, macForIpv4, parseAddressWithPrefix } from '../model/cidr';
import { SerialQueue } from '../util/serial';
import { crashPoint } from '../util/crash-point';
import { endpointLinkCandidates } from '../dataplane/names';
import type { EndpointLocks } from './endpoint-locks';
import type { VethEvidence } from '../reconcile/lifecycle';
import type { EndpointRecord, NetworkRecord } from '../model/types';
import type { Dataplane } from '../dataplane/dataplane';
import type { FirewallState } from '../dataplane/firewall-rules';
import { endpointMtu } from '../dataplane/mtu';
import type { OverlayState } from '../dataplane/ovs-rules';
import { ANY_POOL, type Ipam } from '../ipam/ipam';
import type { Settings } from '../settings';
import type { Store } from '../store/store';
import { OPT, parseNetworkOptions, parsePortMap, type HostPortSpec } from './options';
import type {
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  Empty,
  EndpointRequest,
  JoinRequest,
  JoinResponse,
  NetworkCapabilities,
  NetworkDriver,
  NetworkIdRequest,
  ProgramExternalConnectivityRequest,
} from './protocol';

const debug = createDebug('podnet:driver');

export interface DriverDeps {
  readonly settings: Settings;
  readonly store: Store;
  readonly ipam: Ipam;
  readonly dataplane: Dataplane;
  /** The overlay this node should have (multi-host); absent or undefined: single node. */
  readonly overlay?: () => OverlayState | undefined;
  /** Shared with the reconciler: one endpoint's operations never interleave. */
  readonly locks: EndpointLocks;
  readonly now?: () => number;
}

/**
 * The libnetwork semantics of a podnet network on one node. Host work is delegated to the
 * dataplane; state lives in the store; every teardown call is idempotent.
 */
export class PodnetNetworkDriver implements NetworkDriver {
  /** Network create/delete: check-then-act on "one network per cluster CIDR" must not interleave. */
  private readonly networks = new SerialQueue();
  /** Host-port changes: check for conflicts, hold the ports, store rows, rewrite rules, as one step. */
  private readonly hostPorts = new SerialQueue();

  private readonly now: () => number;

  constructor(private readonly d: DriverDeps) {
    this.now = d.now ?? Date.now;
  }

  async getCapabilities(): Promise<NetworkCapabilities> {
    return { Scope: 'local', ConnectivityScope: 'global' };
  }

  private get cluster(): string {
    return formatCidr(this.d.settings.clusterCidr);
  }

  createNetwork(req: CreateNetworkRequest): Promise<Empty> {
    return this.networks.run(() => this.createNetworkNow(req));
  }

  private async createNetworkNow(req: CreateNetworkRequest): Promise<Empty> {
    const { store, settings, ipam, dataplane } = this.d;
    if (req.IPv6Data.length > 0) throw new UnsupportedError('IPv6 is not supported by podnet yet: create the network without --ipv6');
    const opts = parseNetworkOptions(req.Options);
    const v4 = req.IPv4Data;
    if (v4.length !== 1 || v4[0] === undefined) {
      throw new InvalidOptionError(`a podnet network has exactly one IPv4 pool (got ${v4.length}): give at most one --subnet, ${this.cluster}`);
    }
    const data = v4[0];
    const pool = store.listPools().find((p) => p.pool === data.Pool);
    if (!pool) {
      if (data.Pool === ANY_POOL || data.Pool === this.cluster) {
        throw new NotFoundError('podnet has no record of this network\'s address pool (its state was reset?): run the docker network create again');
      }
      throw new InvalidOptionError(
        `podnet networks need podnet's IPAM driver (got pool ${data.Pool} from another one): docker network create -d podnet --ipam-driver podnet NAME`,
      );
    }
    if (data.Gateway) {
      const gw = optionAddress('--gateway', data.Gateway);
      if (gw !== settings.gateway) {
        throw new InvalidOptionError(`--gateway ${formatIpv4(gw)} is not this node's gateway ${formatIpv4(settings.gateway)}: leave --gateway out`);
      }
    }
    const existing = store.getNetwork(req.NetworkID);
    if (existing) return {};
    const other = store.listNetworks()[0];
    if (other) {
      throw new ConflictError(
        `the cluster CIDR ${this.cluster} already has a podnet network on this Docker host (${other.networkId.slice(0, 12)}): ` +
          'use that network, or docker network rm it first',
      );
    }
    const mtu = opts.mtu ?? endpointMtu({
      override: settings.mtu,
      underlayMtu: await dataplane.underlayMtu(),
      tunnel: settings.tunnel,
      topology: settings.topology,
    });
    const aux = Object.values(data.AuxAddresses).map((c) => optionAddress('--aux-address', c));
    const network: NetworkRecord = { networkId: req.NetworkID, internal: opts.internal, mtu, createdAt: this.now(), poolId: pool.poolId };
    // Host first, row last: a crash before the commit leaves no row (the reconcile removes the
    // plumbing of no network); a crash after it, before Docker heard the answer, is ended by
    // Docker's roll-back, ReleasePool of this pool (releasePool below, and the reconcile).
    try {
      await dataplane.ensureNode();
      await dataplane.applyFirewall(this.firewallState(network), { checkJumps: true });
      const warning = await dataplane.ensureOverlay(this.d.overlay?.());
      if (warning) console.error(`podnet: ${warning}`);
    } catch (err) {
      if (store.listNetworks().length === 0) await dataplane.teardownNode().catch(() => undefined);
      throw new PodnetError('PODNET_ERR_COMMAND_FAILED', `could not set up ${settings.bridge}, ${settings.ovsBridge} and podnet's firewall chains: ${errorMessage(err)}`, { cause: err });
    }
    crashPoint('create-network:host-ready');
    store.transaction(() => {
      store.putNetwork(network);
      ipam.reserve(pool.poolId, aux);
    });
    crashPoint('create-network:stored');
    debug('network %s created (mtu %d, internal %s)', req.NetworkID.slice(0, 12), mtu, opts.internal);
    return {};
  }

  deleteNetwork(req: NetworkIdRequest): Promise<Empty> {
    return this.networks.run(() => this.deleteNetworkNow(req));
  }

  private async deleteNetworkNow(req: NetworkIdRequest): Promise<Empty> {
    const { store, dataplane } = this.d;
    for (const ep of store.listEndpoints(req.NetworkID)) await this.endEndpoint(ep.endpointId, 'deleted');
    const removed = store.deleteNetwork(req.NetworkID);
    if (store.listNetworks().length === 0 && removed) {
      await dataplane.teardownNode();
      debug('last network removed: node plumbing torn down');
    }
    return {};
  }

  /**
   * Releases the networks stored for a pool Docker releases: Docker releases a pool after
   * DeleteNetwork, or as the roll-back of a CreateNetwork that failed (it never sends
   * DeleteNetwork for those), so a network still stored for it is one Docker does not have.
   */
  releasePool(poolId: string): Promise<void> {
    return this.networks.run(async () => {
      const stale = this.d.store.listNetworks().filter((n) => n.poolId === poolId);
      for (const n of stale) {
        debug('pool %s released while network %s is stored: a create Docker rolled back', poolId, n.networkId.slice(0, 12));
        await this.deleteNetworkNow({ NetworkID: n.networkId });
      }
    });
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const { settings } = this.d;
    const network = this.network(req.NetworkID);
    if (req.Interface.AddressIPv6) throw new UnsupportedError('IPv6 is not supported by podnet yet: connect without --ip6');
    if (!req.Interface.Address) {
      throw new InvalidRequestError('CreateEndpoint without an IPv4 address: podnet networks need podnet\'s IPAM driver (--ipam-driver podnet)');
    }
    const address = optionAddress('Interface.Address', req.Interface.Address);
    if (!contains(settings.nodeSubnet, address)) {
      throw new InvalidOptionError(`address ${formatIpv4(address)} is outside this node's subnet ${formatCidr(settings.nodeSubnet)}`);
    }
    const mac = req.Interface.MacAddress || macForIpv4(address);
    return this.d.locks.with(req.EndpointID, async () => {
      const { store, ipam } = this.d;
      const existing = store.getEndpoint(req.EndpointID);
      if (existing) {
        // A retry of a CreateEndpoint whose answer was lost: same address, same answer.
        if (existing.address !== address) {
          throw new ConflictError(
            `endpoint ${req.EndpointID.slice(0, 12)} already exists with address ${formatIpv4(existing.address)}, not ${formatIpv4(address)}: ` +
              'Docker and podnet disagree; restart the container',
          );
        }
        return req.Interface.MacAddress ? {} : { Interface: { MacAddress: existing.mac } };
      }
      const holder = store.endpointsByAddress(address).find((e) => e.endpointId !== req.EndpointID);
      const row = store.addressRow(address);
      if (holder || (row && row.endpointId !== null && row.endpointId !== req.EndpointID)) {
        const other = holder?.endpointId ?? row?.endpointId ?? '';
        throw new ConflictError(
          `address ${formatIpv4(address)} is held by another endpoint (${other.slice(0, 12)}): ask podnet's IPAM for an address ` +
            '(leave --ip out, or pick a free one)',
        );
      }
      if (row && row.quarantinedAt !== null) {
        throw new ConflictError(
          `address ${formatIpv4(address)} belonged to an endpoint that died ${Math.round((this.now() - row.quarantinedAt) / 1000)} s ago and is ` +
            `quarantined for ${Math.round(settings.addressGraceMs / 1000)} s from then: pick another address, or wait`,
        );
      }
      const pool = store.listPools()[0];
      const now = this.now();
      store.transaction(() => {
        // An address with no row (podnet's state was reset under a running Docker) is adopted.
        if (!row && pool) ipam.adopt(pool.poolId, address);
        store.putEndpoint({
          endpointId: req.EndpointID, networkId: network.networkId, address, mac, hostVeth: null, peerVeth: null,
          createdAt: now, state: 'bound', stateSince: now, sandboxKey: '',
        });
        store.bindAddress(address, req.EndpointID);
      });
      crashPoint('create-endpoint:stored');
      return req.Interface.MacAddress ? {} : { Interface: { MacAddress: mac } };
    });
  }

  async deleteEndpoint(req: EndpointRequest): Promise<Empty> {
    // An endpoint podnet has no record of has no links podnet knows: nothing is deleted by name.
    await this.endEndpoint(req.EndpointID, 'deleted');
    return {};
  }

  async endpointOperInfo(_req: EndpointRequest): Promise<{ Value: Record<string, unknown> }> {
    return { Value: {} };
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const { settings } = this.d;
    const network = this.network(req.NetworkID);
    return this.d.locks.with(req.EndpointID, async () => {
      const { store, dataplane } = this.d;
      const ep = store.getEndpoint(req.EndpointID);
      if (!ep) throw new NotFoundError(`unknown endpoint ${req.EndpointID.slice(0, 12)}: podnet has no record of it; restart the container`);
      // Only an endpoint that has links already needs the kernel's view (a process spawn costs
      // more than the rest of a Join); a fresh one learns of a taken name from "File exists".
      const recorded = ep.hostVeth !== null || ep.peerVeth !== null;
      const veths = recorded ? await dataplane.inspectVeths() : new Map<string, VethEvidence>();
      if (ep.state === 'joined' && ep.hostVeth !== null && veths.get(ep.hostVeth)?.peerElsewhere) {
        throw new ConflictError(
          `endpoint ${ep.endpointId.slice(0, 12)} is already joined to a sandbox (${ep.sandboxKey || 'its veth is in another namespace'}): ` +
            'Leave it first; podnet does not rebuild a live endpoint',
        );
      }
      // A Join retried after a lost answer finds its own pair from the first attempt: remove it.
      const own = [ep.hostVeth, ep.peerVeth].filter((n): n is string => n !== null);
      if (own.some((n) => veths.has(n))) await deleteLinksNow(dataplane, own);
      const taken = new Set<string>();
      for (const other of store.listEndpoints()) {
        if (other.endpointId === ep.endpointId) continue;
        if (other.hostVeth) taken.add(other.hostVeth);
        if (other.peerVeth) taken.add(other.peerVeth);
      }
      let made: { hostVeth: string; peerVeth: string } | undefined;
      for (const links of endpointLinkCandidates(ep.endpointId)) {
        if (taken.has(links.hostVeth) || taken.has(links.peerVeth)) continue;
        if (!own.includes(links.hostVeth) && (veths.has(links.hostVeth) || veths.has(links.peerVeth))) continue;
        // Recorded before they exist: a crash after the kernel made them leaves links with an owner.
        store.setEndpointState(ep.endpointId, 'joining', this.now(), links, req.SandboxKey);
        crashPoint('join:recorded');
        try {
          await dataplane.attachEndpoint(links, network.mtu, ep.mac);
        } catch (err) {
          if (/File exists/.test(errorMessage(err))) continue; // not ours: try the next names
          throw err;
        }
        made = links;
        break;
      }
      if (!made) {
        store.setEndpointState(ep.endpointId, 'bound', this.now(), { hostVeth: null, peerVeth: null });
        throw new ConflictError(`no free link names for endpoint ${ep.endpointId.slice(0, 12)}: every pn/pt name from its ID is taken; restart the container`);
      }
      crashPoint('join:made');
      store.setEndpointState(ep.endpointId, 'joined', this.now(), made, req.SandboxKey);
      crashPoint('join:stored');
      return {
        InterfaceName: { SrcName: made.peerVeth, DstPrefix: 'eth' },
        // Docker installs no default route for internal networks; none is offered.
        Gateway: network.internal ? '' : formatIpv4(settings.gateway),
        GatewayIPv6: '',
        StaticRoutes: [],
        DisableGatewayService: false,
      };
    });
  }

  async leave(req: EndpointRequest): Promise<Empty> {
    await this.d.locks.with(req.EndpointID, async () => {
      const { store, dataplane } = this.d;
      const ep = store.getEndpoint(req.EndpointID);
      if (!ep) return; // unknown: nothing of it is deleted by a name derived from the ID
      await this.revoke(ep.endpointId);
      crashPoint('leave:revoked');
      dataplane.detachLinks([ep.hostVeth, ep.peerVeth].filter((n): n is string => n !== null));
      store.setEndpointState(ep.endpointId, 'left', this.now(), { hostVeth: null, peerVeth: null });
      crashPoint('leave:stored');
    });
    return {};
  }
  programExternalConnectivity(req: ProgramExternalConnectivityRequest): Promise<Empty> {
    return this.hostPorts.run(() => this.programNow(req));
  }

  private async programNow(req: ProgramExternalConnectivityRequest): Promise<Empty> {
    const { store, dataplane } = this.d;
    const network = this.network(req.NetworkID);
    const ep = store.getEndpoint(req.EndpointID);
    if (!ep) throw new NotFoundError(`unknown endpoint ${req.EndpointID.slice(0, 12)}: restart the container`);
    const specs = parsePortMap(req.Options[OPT.portmap]);
    if (network.internal) {
      if (specs.length > 0) throw new InvalidOptionError('an --internal podnet network publishes no host ports: remove -p, or use a network created without --internal');
      return {};
    }
    const key = (h: { protocol: string; hostIp: string; hostPort: number; containerPort: number }): string =>
      `${h.protocol}/${h.hostIp}/${h.hostPort}/${h.containerPort}`;
    const current = store.hostPortsOf(ep.endpointId);
    if (current.length === specs.length && specs.every((s) => current.some((c) => key(c) === key(s)))) return {};
    if (current.length > 0) await this.revokeNow(ep.endpointId);
    for (const s of specs) {
      const clash = store.conflictingHostPorts(s.protocol, s.hostIp, s.hostPort).find((h) => h.endpointId !== ep.endpointId);
      if (clash) {
        throw new ConflictError(
          `host port ${s.hostIp || '0.0.0.0'}:${s.hostPort}/${s.protocol} is already published by another container ` +
            `(pod ${formatIpv4(clash.podIp)}): publish another host port, or stop that container`,
        );
      }
    }
    const held: HostPortSpec[] = [];
    try {
      for (const s of specs) {
        await dataplane.holdHostPort(s.protocol, s.hostIp, s.hostPort);
        held.push(s);
      }
      store.transaction(() => {
        for (const s of specs) store.putHostPort({ endpointId: ep.endpointId, podIp: ep.address, ...s });
      });
      await dataplane.applyFirewall(this.firewallState());
    } catch (err) {
      store.deleteHostPortsOf(ep.endpointId);
      for (const s of held) dataplane.releaseHostPort(s.protocol, s.hostIp, s.hostPort);
      await dataplane.applyFirewall(this.firewallState()).catch(() => undefined);
      throw err;
    }
    debug('endpoint %s publishes %o', ep.endpointId.slice(0, 12), specs);
    return {};
  }

  async revokeExternalConnectivity(req: EndpointRequest): Promise<Empty> {
    await this.revoke(req.EndpointID);
    return {};
  }

  /**
   * Ends an endpoint under its lock: host ports and rules, its recorded links, its row. 'deleted'
   * (DeleteEndpoint): its address is unbound and waits for Docker's ReleaseAddress. 'dead' (the
   * reconciler's judgement): its address is quarantined from now. Unknown IDs: nothing happens.
   */
  endEndpoint(endpointId: string, how: 'deleted' | 'dead', reason?: string): Promise<void> {
    return this.d.locks.with(endpointId, async () => {
      const { store, dataplane } = this.d;
      const ep = store.getEndpoint(endpointId);
      if (!ep) return;
      if (how === 'dead') console.error(`podnet: endpoint ${endpointId.slice(0, 12)} (${formatIpv4(ep.address)}) is dead: ${reason ?? 'judged by the reconcile'}`);
      await this.revoke(endpointId);
      crashPoint('delete-endpoint:revoked');
      dataplane.detachLinks([ep.hostVeth, ep.peerVeth].filter((n): n is string => n !== null));
      store.transaction(() => {
        store.deleteEndpoint(endpointId);
        if (how === 'dead') store.quarantineAddress(endpointId, this.now());
        else store.unbindAddress(endpointId, this.now());
      });
      crashPoint('delete-endpoint:stored');
    });
  }

  private revoke(endpointId: string): Promise<void> {
    return this.hostPorts.run(() => this.revokeNow(endpointId));
  }

  private async revokeNow(endpointId: string): Promise<void> {
    const { store, dataplane } = this.d;
    const ports = store.hostPortsOf(endpointId);
    if (ports.length === 0) return;
    store.deleteHostPortsOf(endpointId);
    for (const p of ports) dataplane.releaseHostPort(p.protocol, p.hostIp, p.hostPort);
    if (store.listNetworks().length > 0) await dataplane.applyFirewall(this.firewallState());
  }

  private network(networkId: string): NetworkRecord {
    const n = this.d.store.getNetwork(networkId);
    if (!n) {
      throw new NotFoundError(
        `unknown network ${networkId.slice(0, 12)}: podnet has no record of it (its state was reset?); docker network rm it and create it again`,
      );
    }
    return n;
  }

  /** The firewall podnet's chains should hold, from the store (plus a network being created). */
  firewallState(creating?: NetworkRecord): FirewallState {
    const { store, settings } = this.d;
    const internal = [...store.listNetworks(), ...(creating ? [creating] : [])].some((n) => n.internal);
    return {
      bridge: settings.bridge,
      clusterCidr: settings.clusterCidr,
      internal,
      hostPorts: internal ? [] : store.listHostPorts(),
    };
  }
}


/** An address in CIDR form from Docker (gateway, aux address, endpoint address), or a clear error. */
function optionAddress(what: string, text: string): number {
  try {
    return parseAddressWithPrefix(text).address;
  } catch (err) {
    throw new InvalidOptionError(`${what} ${JSON.stringify(text)} is not an IPv4 address: ${errorMessage(err)}`);
  }
}

/** Deletes an endpoint's own links now (not in the background): their names are reused at once. */
async function deleteLinksNow(dataplane: Dataplane, names: readonly string[]): Promise<void> {
  dataplane.detachLinks(names);
  await dataplane.drainLinks();
}
