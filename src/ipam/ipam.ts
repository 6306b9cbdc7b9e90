import createDebug from 'debug';
import { ConflictError, ExhaustedError, InvalidOptionError, NotFoundError, UnsupportedError } from '../errors';
import {
  contains,
  covers,
  formatCidr,
  formatIpv4,
  lastAddress,
  parseCidr,
  parseIpv4,
  type Ipv4Cidr,
} from '../model/cidr';
import type { PoolRecord } from '../model/types';
import type { Store } from '../store/store';
import { crashPoint } from '../util/crash-point';

const debug = createDebug('podnet:ipam');

/** Docker's key for the gateway in a RequestPool answer and in RequestAddress options. */
export const GATEWAY_KEY = 'com.docker.network.gateway';
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';

/**
 * What podnet answers for a RequestPool without --subnet. Docker 20.10 checks a returned pool
 * against the host's routes and asks again on overlap, forever (LIBNETWORK.md, the overlap loop);
 * it skips the check for 0.0.0.0/0. Containers still get the cluster mask from RequestAddress.
 */
export const ANY_POOL = '0.0.0.0/0';

/** How long an address may be handed out without an endpoint before it is taken back. */
export const DEFAULT_GRACE_MS = 60_000;

export interface IpamConfig {
  readonly clusterCidr: Ipv4Cidr;
  readonly nodeSubnet: Ipv4Cidr;
  readonly gateway: number;
  readonly graceMs?: number;
}

export interface PoolRequest {
  readonly pool: string;
  readonly subPool: string;
  readonly v6: boolean;
  readonly options: Readonly<Record<string, string>>;
}

export interface PoolAnswer {
  readonly poolId: string;
  readonly pool: string;
  readonly gatewayCidr: string;
}

/** An allocation range, inclusive. */
interface Range {
  readonly first: number;
  readonly last: number;
}

/**
 * Address allocation over the store. One pool per cluster CIDR: the node subnet's addresses, minus
 * its network address, broadcast and gateway. The in-memory set mirrors the store's rows so that an
 * allocation costs no scan of the database (one instance per state dir is guaranteed by the lock).
 */
export class Ipam {
  private readonly allocated = new Map<string, Set<number>>();
  private cursor: number;
  private readonly graceMs: number;

  constructor(private readonly store: Store, private readonly cfg: IpamConfig, private readonly now: () => number = Date.now) {
    this.graceMs = cfg.graceMs ?? DEFAULT_GRACE_MS;
    for (const a of store.listAddresses()) this.setOf(a.poolId).add(a.address);
    this.cursor = cfg.gateway;
  }

  private setOf(poolId: string): Set<number> {
    let s = this.allocated.get(poolId);
    if (!s) this.allocated.set(poolId, (s = new Set()));
    return s;
  }

  get gatewayCidr(): string {
    return `${formatIpv4(this.cfg.gateway)}/${this.cfg.clusterCidr.prefix}`;
  }

  /** Usable addresses of the node subnet: no network address, no broadcast. The gateway is skipped separately. */
  private nodeRange(): Range {
    return { first: this.cfg.nodeSubnet.network + 1, last: lastAddress(this.cfg.nodeSubnet) - 1 };
  }

  private rangeOf(pool: PoolRecord): Range {
    const node = this.nodeRange();
    if (!pool.subPool) return node;
    const sub = parseCidr(pool.subPool);
    return { first: Math.max(node.first, sub.network), last: Math.min(node.last, lastAddress(sub)) };
  }

  requestPool(req: PoolRequest): PoolAnswer {
    const cluster = formatCidr(this.cfg.clusterCidr);
    if (req.v6) {
      throw new UnsupportedError('IPv6 is not supported by podnet yet: create the network without --ipv6');
    }
    const optionKeys = Object.keys(req.options);
    if (optionKeys.length > 0) {
      throw new InvalidOptionError(`unknown IPAM option(s) ${optionKeys.join(', ')}: podnet's IPAM takes no --ipam-opt options; remove them`);
    }
    let pool: string;
    if (req.pool === '') {
      if (req.subPool !== '') throw new InvalidOptionError(`--ip-range needs --subnet ${cluster}`);
      pool = ANY_POOL;
    } else {
      let asked: Ipv4Cidr;
      try {
        asked = parseCidr(req.pool, { strict: true });
      } catch (err) {
        throw new InvalidOptionError(`--subnet ${req.pool} is not a valid IPv4 subnet (${(err as Error).message}): use --subnet ${cluster}, or leave --subnet out`);
      }
      if (asked.network !== this.cfg.clusterCidr.network || asked.prefix !== this.cfg.clusterCidr.prefix) {
        throw new InvalidOptionError(
          `--subnet ${req.pool} is not podnet's cluster CIDR ${cluster}: leave --subnet out, or use --subnet ${cluster} (needed for docker run --ip)`,
        );
      }
      pool = cluster;
    }
    let subPool: string | null = null;
    if (req.subPool !== '') {
      let sub: Ipv4Cidr;
      try {
        sub = parseCidr(req.subPool, { strict: true });
      } catch (err) {
        throw new InvalidOptionError(`--ip-range ${req.subPool} is not a valid IPv4 range (${(err as Error).message})`);
      }
      if (!covers(this.cfg.nodeSubnet, sub)) {
        throw new InvalidOptionError(
          `--ip-range ${req.subPool} must lie inside this node's subnet ${formatCidr(this.cfg.nodeSubnet)}: pick a range inside it, or leave --ip-range out`,
        );
      }
      subPool = formatCidr(sub);
    }
    const existing = this.store.listPools();
    const now = this.now();
    for (const p of existing) {
      // A pool without a network, older than the grace period, is left over from a network whose
      // teardown never reached podnet: take it over rather than block every future create.
      const stale = this.store.listNetworks().length === 0 && now - p.createdAt > this.graceMs;
      if (!stale) {
        throw new ConflictError(
          `the cluster CIDR ${cluster} already has a podnet network on this Docker host (pool ${p.poolId}): ` +
            'use that network (docker network ls --filter driver=podnet), or docker network rm it first',
        );
      }
      debug('taking over stale pool %s', p.poolId);
      this.releasePool(p.poolId);
    }
    const poolId = `podnet-${cluster}`;
    this.store.putPool({ poolId, pool, subPool, createdAt: now });
    this.setOf(poolId);
    debug('pool %s -> %s (range %s)', poolId, pool, subPool ?? 'node subnet');
    return { poolId, pool, gatewayCidr: this.gatewayCidr };
  }

  releasePool(poolId: string): void {
    this.store.transaction(() => this.store.deletePool(poolId));
    this.allocated.delete(poolId);
  }

  private pool(poolId: string): PoolRecord {
    const p = this.store.getPool(poolId);
    if (!p) throw new NotFoundError(`unknown pool ${poolId}: it was released, or podnet's state was reset; recreate the network`);
    return p;
  }

  /** Returns "a.b.c.d/len" with the cluster mask: every pod is on-link for every other pod. */
  requestAddress(poolId: string, address: string, isGateway: boolean): string {
    const p = this.pool(poolId);
    const mask = this.cfg.clusterCidr.prefix;
    if (isGateway) {
      if (address !== '' && address !== formatIpv4(this.cfg.gateway)) {
        throw new InvalidOptionError(
          `--gateway ${address} is not this node's gateway ${formatIpv4(this.cfg.gateway)}: leave --gateway out, or use --gateway ${formatIpv4(this.cfg.gateway)}`,
        );
      }
      return this.gatewayCidr;
    }
    const taken = this.setOf(poolId);
    let addr: number;
    if (address !== '') {
      addr = this.checkStatic(address, taken);
    } else {
      addr = this.next(p, taken);
    }
    this.store.putAddress({ poolId, address: addr, kind: 'endpoint', allocatedAt: this.now(), endpointId: null, quarantinedAt: null });
    taken.add(addr);
    crashPoint('request-address:stored');
    debug('address %s from %s', formatIpv4(addr), poolId);
    return `${formatIpv4(addr)}/${mask}`;
  }

  private checkStatic(address: string, taken: Set<number>): number {
    let addr: number;
    try {
      addr = parseIpv4(address);
    } catch {
      throw new InvalidOptionError(`"${address}" is not an IPv4 address`);
    }
    const node = this.nodeRange();
    const subnet = formatCidr(this.cfg.nodeSubnet);
    if (!contains(this.cfg.nodeSubnet, addr) || addr < node.first || addr > node.last) {
      throw new InvalidOptionError(
        `address ${address} is outside this node's pod addresses (${subnet}, ${formatIpv4(node.first + 1)}-${formatIpv4(node.last)}): ` +
          'pick one of those for --ip (or --aux-address), or leave it out',
      );
    }
    if (addr === this.cfg.gateway) {
      throw new ConflictError(`address ${address} is this node's gateway: pick another address, or leave --ip out`);
    }
    if (taken.has(addr)) {
      throw new ConflictError(`address ${address} is already in use by another container: pick another address, or leave --ip out`);
    }
    return addr;
  }

  /** Next free address after the cursor, wrapping: a released address is not reused at once. */
  private next(pool: PoolRecord, taken: Set<number>): number {
    const found = this.scan(pool, taken);
    if (found !== undefined) return found;
    if (this.reclaim() > 0) {
      const again = this.scan(pool, taken);
      if (again !== undefined) return again;
    }
    const r = this.rangeOf(pool);
    const first = r.first === this.cfg.gateway ? r.first + 1 : r.first;
    throw new ExhaustedError(
      `no free address left in ${pool.subPool ? `--ip-range ${pool.subPool}` : `node subnet ${formatCidr(this.cfg.nodeSubnet)}`} ` +
        `(${formatIpv4(first)}-${formatIpv4(r.last)}): remove containers you no longer need, or give this node a larger PODNET_NODE_SUBNET`,
    );
  }

  private scan(pool: PoolRecord, taken: Set<number>): number | undefined {
    const r = this.rangeOf(pool);
    const n = r.last - r.first + 1;
    if (n <= 0) return undefined;
    const start = this.cursor < r.first || this.cursor > r.last ? r.first : this.cursor + 1;
    for (let i = 0; i < n; i++) {
      const a = r.first + ((start - r.first + i) % n);
      if (a !== this.cfg.gateway && !taken.has(a)) {
        this.cursor = a;
        return a;
      }
    }
    return undefined;
  }

  releaseAddress(poolId: string, address: string): boolean {
    let addr: number;
    try {
      addr = parseIpv4(address);
    } catch {
      throw new InvalidOptionError(`"${address}" is not an IPv4 address`);
    }
    if (addr === this.cfg.gateway) return false;
    const row = this.store.getAddress(poolId, addr);
    if (row?.kind === 'aux') return false;
    if (row?.endpointId && this.store.getEndpoint(row.endpointId)) {
      // ReleaseAddress names no endpoint: a late one (for an endpoint that died while podnet
      // was away) must not free the address of the endpoint that holds it now.
      debug('release of %s ignored: it is bound to live endpoint %s', address, row.endpointId.slice(0, 12));
      return false;
    }
    const removed = this.store.deleteAddress(poolId, addr);
    this.allocated.get(poolId)?.delete(addr);
    crashPoint('release-address:stored');
    return removed;
  }

  /** Records an address in use that podnet has no row for (state lost): it is never handed out twice. */
  adopt(poolId: string, addr: number): void {
    const taken = this.setOf(poolId);
    if (taken.has(addr)) return;
    this.store.putAddress({ poolId, address: addr, kind: 'endpoint', allocatedAt: this.now(), endpointId: null, quarantinedAt: null });
    taken.add(addr);
  }

  /** Marks addresses as reserved (--aux-address): never handed out, never reclaimed. */
  reserve(poolId: string, addrs: readonly number[]): void {
    this.store.transaction(() => {
      for (const a of addrs) {
        if (!contains(this.cfg.nodeSubnet, a)) continue;
        this.store.putAddress({ poolId, address: a, kind: 'aux', allocatedAt: this.now(), endpointId: null, quarantinedAt: null });
        this.setOf(poolId).add(a);
      }
    });
  }

  /**
   * Takes back addresses no endpoint holds whose time is up: quarantined longer than the grace
   * period (counted from the endpoint's death), or handed out that long ago and never bound (an
   * answer Docker never received). A bound address is never taken back.
   */
  reclaim(): number {
    const stale = this.store.unusedAddresses(this.now() - this.graceMs);
    this.store.transaction(() => {
      for (const a of stale) this.store.deleteAddress(a.poolId, a.address);
    });
    for (const a of stale) this.allocated.get(a.poolId)?.delete(a.address);
    if (stale.length > 0) debug('reclaimed %d unused address(es): %s', stale.length, stale.map((a) => formatIpv4(a.address)).join(', '));
    return stale.length;
  }

  inUse(poolId: string): number {
    return this.allocated.get(poolId)?.size ?? 0;
  }
}
