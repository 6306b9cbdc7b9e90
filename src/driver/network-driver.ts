import createDebug from 'debug';
import { ConflictError, InvalidOptionError, InvalidRequestError, NotFoundError, PodnetError, UnsupportedError, errorMessage } from '../errors';
import { contains, formatCidr, formatIpv4, macForIpv4, parseAddressWithPrefix } from '../model/cidr';
import { SerialQueue } from '../util/serial';
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
}

/**
 * The libnetwork semantics of a podnet network on one node. Host work is delegated to the
 * dataplane; state lives in the store; every teardown call is idempotent.
 */
export class PodnetNetworkDriver implements NetworkDriver {
  /** Endpoints whose veth is being made or removed: reconcile must not judge them meanwhile. */
  readonly inFlight = new Set<string>();
  /** Network create/delete: check-then-act on "one network per cluster CIDR" must not interleave. */
  private readonly networks = new SerialQueue();
  /** Host-port changes: check for conflicts, hold the ports, store rows, rewrite rules, as one step. */
  private readonly hostPorts = new SerialQueue();

  constructor(private readonly d: DriverDeps) {}

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
    const network: NetworkRecord = { networkId: req.NetworkID, internal: opts.internal, mtu, createdAt: Date.now() };
    store.transaction(() => {
      store.putNetwork(network);
      ipam.reserve(pool.poolId, aux);
    });
    try {
      await dataplane.ensureNode();
      await dataplane.applyFirewall(this.firewallState(), { checkJumps: true });
      const warning = await dataplane.ensureOverlay(this.d.overlay?.());
      if (warning) console.error(`podnet: ${warning}`);
    } catch (err) {
      store.deleteNetwork(req.NetworkID);
      throw new PodnetError('PODNET_ERR_COMMAND_FAILED', `could not set up ${settings.bridge}, ${settings.ovsBridge} and podnet's firewall chains: ${errorMessage(err)}`, { cause: err });
    }
    debug('network %s created (mtu %d, internal %s)', req.NetworkID.slice(0, 12), mtu, opts.internal);
    return {};
  }

  deleteNetwork(req: NetworkIdRequest): Promise<Empty> {
    return this.networks.run(() => this.deleteNetworkNow(req));
  }

  private async deleteNetworkNow(req: NetworkIdRequest): Promise<Empty> {
    const { store, dataplane } = this.d;
    for (const ep of store.listEndpoints(req.NetworkID)) await this.forgetEndpoint(ep);
    const removed = store.deleteNetwork(req.NetworkID);
    if (store.listNetworks().length === 0 && removed) {
      await dataplane.teardownNode();
      debug('last network removed: node plumbing torn down');
    }
    return {};
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const { store, settings, ipam } = this.d;
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
    const existing = store.getEndpoint(req.EndpointID);
    if (!existing) {
      const pool = store.listPools()[0];
      store.transaction(() => {
        store.putEndpoint({ endpointId: req.EndpointID, networkId: network.networkId, address, mac, hostVeth: null, createdAt: Date.now() });
        if (pool) ipam.adopt(pool.poolId, address);
      });
    }
    return req.Interface.MacAddress ? {} : { Interface: { MacAddress: mac } };
  }

  async deleteEndpoint(req: EndpointRequest): Promise<Empty> {
    const ep = this.d.store.getEndpoint(req.EndpointID);
    if (ep) await this.forgetEndpoint(ep);
    else await this.d.dataplane.detachEndpoint(req.EndpointID);
    return {};
  }

  async endpointOperInfo(_req: EndpointRequest): Promise<{ Value: Record<string, unknown> }> {
    return { Value: {} };
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const { store, dataplane, settings } = this.d;
    const network = this.network(req.NetworkID);
    const ep = store.getEndpoint(req.EndpointID);
    if (!ep) throw new NotFoundError(`unknown endpoint ${req.EndpointID.slice(0, 12)}: podnet has no record of it; restart the container`);
    this.inFlight.add(ep.endpointId);
    try {
      const { hostVeth, peerVeth } = await dataplane.attachEndpoint(ep.endpointId, network.mtu, ep.mac);
      store.setEndpointVeth(ep.endpointId, hostVeth);
      return {
        InterfaceName: { SrcName: peerVeth, DstPrefix: 'eth' },
        // Docker installs no default route for internal networks; none is offered.
        Gateway: network.internal ? '' : formatIpv4(settings.gateway),
        GatewayIPv6: '',
        StaticRoutes: [],
        DisableGatewayService: false,
      };
    } finally {
      this.inFlight.delete(ep.endpointId);
    }
  }

  async leave(req: EndpointRequest): Promise<Empty> {
    const { store, dataplane } = this.d;
    this.inFlight.add(req.EndpointID);
    try {
      await this.revoke(req.EndpointID);
      await dataplane.detachEndpoint(req.EndpointID);
      if (store.getEndpoint(req.EndpointID)) store.setEndpointVeth(req.EndpointID, null);
    } finally {
      this.inFlight.delete(req.EndpointID);
    }
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

  /** ReleaseAddress of an address whose endpoint still exists: that endpoint is gone for Docker. */
  async forgetEndpointsAt(address: number): Promise<void> {
    for (const ep of this.d.store.endpointsByAddress(address)) {
      debug('address %s released while endpoint %s exists: cleaning it up', formatIpv4(address), ep.endpointId.slice(0, 12));
      await this.forgetEndpoint(ep);
    }
  }

  /** Removes an endpoint's veth, host ports and record. */
  async forgetEndpoint(ep: EndpointRecord): Promise<void> {
    this.inFlight.add(ep.endpointId);
    try {
      await this.revoke(ep.endpointId);
      await this.d.dataplane.detachEndpoint(ep.endpointId);
      this.d.store.deleteEndpoint(ep.endpointId);
    } finally {
      this.inFlight.delete(ep.endpointId);
    }
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

  /** The firewall podnet's chains should hold, from the store. */
  firewallState(): FirewallState {
    const { store, settings } = this.d;
    const internal = store.listNetworks().some((n) => n.internal);
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
