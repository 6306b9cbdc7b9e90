import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AddressKind,
  AddressRecord,
  EndpointRecord,
  EndpointState,
  HostPortRecord,
  NetworkRecord,
  PoolRecord,
  Protocol,
} from '../model/types';

/** Schema versions, applied in order inside one transaction each. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE pools (
     pool_id TEXT PRIMARY KEY, pool TEXT NOT NULL, sub_pool TEXT, created_at INTEGER NOT NULL);
   CREATE TABLE addresses (
     pool_id TEXT NOT NULL, address INTEGER NOT NULL, kind TEXT NOT NULL, allocated_at INTEGER NOT NULL,
     PRIMARY KEY (pool_id, address));
   CREATE TABLE networks (
     network_id TEXT PRIMARY KEY, internal INTEGER NOT NULL, mtu INTEGER NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE endpoints (
     endpoint_id TEXT PRIMARY KEY, network_id TEXT NOT NULL, address INTEGER NOT NULL, mac TEXT NOT NULL,
     host_veth TEXT, created_at INTEGER NOT NULL);
   CREATE INDEX endpoints_by_address ON endpoints (address);
   CREATE TABLE hostports (
     endpoint_id TEXT NOT NULL, protocol TEXT NOT NULL, host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,
     container_port INTEGER NOT NULL, pod_ip INTEGER NOT NULL,
     PRIMARY KEY (protocol, host_ip, host_port));
   CREATE INDEX hostports_by_endpoint ON hostports (endpoint_id);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // v2: the endpoint lifecycle (docs/endpoint-lifecycle.md). An address row names the endpoint
  // that owns it, or when its endpoint died (quarantine counted from then); an endpoint row
  // records its state, since when, the links made for it and the sandbox it joined; a network
  // row records the pool Docker allocated it from (ReleasePool of that pool ends it).
  `ALTER TABLE addresses ADD COLUMN endpoint_id TEXT;
   ALTER TABLE addresses ADD COLUMN quarantined_at INTEGER;
   CREATE INDEX addresses_by_endpoint ON addresses (endpoint_id);
   ALTER TABLE endpoints ADD COLUMN state TEXT NOT NULL DEFAULT 'bound';
   ALTER TABLE endpoints ADD COLUMN state_since INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE endpoints ADD COLUMN peer_veth TEXT;
   ALTER TABLE endpoints ADD COLUMN sandbox_key TEXT NOT NULL DEFAULT '';
   ALTER TABLE networks ADD COLUMN pool_id TEXT NOT NULL DEFAULT '';
   UPDATE endpoints SET state = CASE WHEN host_veth IS NULL THEN 'bound' ELSE 'joined' END,
     state_since = created_at, peer_veth = CASE WHEN host_veth IS NULL THEN NULL ELSE 'pt' || substr(host_veth, 3) END;
   UPDATE addresses SET endpoint_id = (SELECT e.endpoint_id FROM endpoints e WHERE e.address = addresses.address LIMIT 1)
     WHERE kind = 'endpoint';
   UPDATE networks SET pool_id = COALESCE((SELECT pool_id FROM pools ORDER BY created_at LIMIT 1), '');`,
];

interface PoolRow { pool_id: string; pool: string; sub_pool: string | null; created_at: number }
interface AddressRow { pool_id: string; address: number; kind: AddressKind; allocated_at: number; endpoint_id: string | null; quarantined_at: number | null }
interface NetworkRow { network_id: string; internal: number; mtu: number; created_at: number; pool_id: string }
interface EndpointRow {
  endpoint_id: string; network_id: string; address: number; mac: string; host_veth: string | null; created_at: number;
  state: EndpointState; state_since: number; peer_veth: string | null; sandbox_key: string;
}
interface HostPortRow { endpoint_id: string; protocol: Protocol; host_ip: string; host_port: number; container_port: number; pod_ip: number }

const pool = (r: PoolRow): PoolRecord => ({ poolId: r.pool_id, pool: r.pool, subPool: r.sub_pool, createdAt: r.created_at });
const address = (r: AddressRow): AddressRecord => ({
  poolId: r.pool_id, address: r.address, kind: r.kind, allocatedAt: r.allocated_at, endpointId: r.endpoint_id, quarantinedAt: r.quarantined_at,
});
const network = (r: NetworkRow): NetworkRecord => ({ networkId: r.network_id, internal: r.internal === 1, mtu: r.mtu, createdAt: r.created_at, poolId: r.pool_id });
const endpoint = (r: EndpointRow): EndpointRecord => ({
  endpointId: r.endpoint_id, networkId: r.network_id, address: r.address, mac: r.mac, hostVeth: r.host_veth, createdAt: r.created_at,
  state: r.state, stateSince: r.state_since, peerVeth: r.peer_veth, sandboxKey: r.sandbox_key,
});
const hostPort = (r: HostPortRow): HostPortRecord => ({
  endpointId: r.endpoint_id, protocol: r.protocol, hostIp: r.host_ip, hostPort: r.host_port, containerPort: r.container_port, podIp: r.pod_ip,
});

/**
 * podnet's durable state: pools, addresses, networks, endpoints, host ports. SQLite in WAL mode;
 * every mutation that must be atomic runs inside transaction(). Synchronous by design: one
 * request's read-modify-write cannot interleave with another's.
 */
export class Store {
  private readonly db: Database.Database;
  /** Prepared once, reused: preparing a statement costs more than running these. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  static open(stateDir: string): Store {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return new Store(join(stateDir, 'podnet.db'));
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    this.db.close();
  }

  // pools
  getPool(poolId: string): PoolRecord | undefined {
    const r = this.sql('SELECT * FROM pools WHERE pool_id = ?').get(poolId) as PoolRow | undefined;
    return r && pool(r);
  }
  listPools(): PoolRecord[] {
    return (this.sql('SELECT * FROM pools ORDER BY created_at').all() as PoolRow[]).map(pool);
  }
  putPool(p: PoolRecord): void {
    this.sql('INSERT OR REPLACE INTO pools (pool_id, pool, sub_pool, created_at) VALUES (?, ?, ?, ?)').run(p.poolId, p.pool, p.subPool, p.createdAt);
  }
  deletePool(poolId: string): void {
    this.sql('DELETE FROM pools WHERE pool_id = ?').run(poolId);
    this.sql('DELETE FROM addresses WHERE pool_id = ?').run(poolId);
  }

  // addresses
  listAddresses(poolId?: string): AddressRecord[] {
    const rows = poolId === undefined
      ? this.sql('SELECT * FROM addresses').all()
      : this.sql('SELECT * FROM addresses WHERE pool_id = ?').all(poolId);
    return (rows as AddressRow[]).map(address);
  }
  getAddress(poolId: string, addr: number): AddressRecord | undefined {
    const r = this.sql('SELECT * FROM addresses WHERE pool_id = ? AND address = ?').get(poolId, addr) as AddressRow | undefined;
    return r && address(r);
  }
  putAddress(a: AddressRecord): void {
    this.sql('INSERT OR REPLACE INTO addresses (pool_id, address, kind, allocated_at, endpoint_id, quarantined_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(a.poolId, a.address, a.kind, a.allocatedAt, a.endpointId, a.quarantinedAt);
  }
  /** The endpoint-kind address row of this address in any pool (one pool per node). */
  addressRow(addr: number): AddressRecord | undefined {
    const r = this.sql(`SELECT * FROM addresses WHERE address = ? AND kind = 'endpoint'`).get(addr) as AddressRow | undefined;
    return r && address(r);
  }
  /** Binds the address to its endpoint (CreateEndpoint). */
  bindAddress(addr: number, endpointId: string): void {
    this.sql(`UPDATE addresses SET endpoint_id = ?, quarantined_at = NULL WHERE address = ? AND kind = 'endpoint'`).run(endpointId, addr);
  }
  /** Unbinds it: Docker deleted the endpoint and will release the address (allocated again, ageing from now). */
  unbindAddress(endpointId: string, now: number): void {
    this.sql(`UPDATE addresses SET endpoint_id = NULL, allocated_at = ? WHERE endpoint_id = ?`).run(now, endpointId);
  }
  /** Its endpoint died: the address is quarantined, counted from now. */
  quarantineAddress(endpointId: string, now: number): void {
    this.sql(`UPDATE addresses SET endpoint_id = NULL, quarantined_at = ? WHERE endpoint_id = ?`).run(now, endpointId);
  }
  deleteAddress(poolId: string, addr: number): boolean {
    return this.sql('DELETE FROM addresses WHERE pool_id = ? AND address = ?').run(poolId, addr).changes > 0;
  }
  /**
   * Endpoint addresses that may be taken back: quarantined before the cut-off, or handed out
   * before it and never bound (an answer Docker never received). Bound rows never qualify.
   */
  unusedAddresses(olderThan: number): AddressRecord[] {
    const rows = this.sql(
      `SELECT a.* FROM addresses a WHERE a.kind = 'endpoint' AND a.endpoint_id IS NULL
         AND COALESCE(a.quarantined_at, a.allocated_at) < ?`,
    ).all(olderThan) as AddressRow[];
    return rows.map(address);
  }

  // networks
  getNetwork(networkId: string): NetworkRecord | undefined {
    const r = this.sql('SELECT * FROM networks WHERE network_id = ?').get(networkId) as NetworkRow | undefined;
    return r && network(r);
  }
  listNetworks(): NetworkRecord[] {
    return (this.sql('SELECT * FROM networks ORDER BY created_at').all() as NetworkRow[]).map(network);
  }
  putNetwork(n: NetworkRecord): void {
    this.sql('INSERT OR REPLACE INTO networks (network_id, internal, mtu, created_at, pool_id) VALUES (?, ?, ?, ?, ?)')
      .run(n.networkId, n.internal ? 1 : 0, n.mtu, n.createdAt, n.poolId);
  }
  deleteNetwork(networkId: string): boolean {
    return this.sql('DELETE FROM networks WHERE network_id = ?').run(networkId).changes > 0;
  }

  // endpoints
  getEndpoint(endpointId: string): EndpointRecord | undefined {
    const r = this.sql('SELECT * FROM endpoints WHERE endpoint_id = ?').get(endpointId) as EndpointRow | undefined;
    return r && endpoint(r);
  }
  endpointsByAddress(addr: number): EndpointRecord[] {
    return (this.sql('SELECT * FROM endpoints WHERE address = ?').all(addr) as EndpointRow[]).map(endpoint);
  }
  listEndpoints(networkId?: string): EndpointRecord[] {
    const rows = networkId === undefined
      ? this.sql('SELECT * FROM endpoints').all()
      : this.sql('SELECT * FROM endpoints WHERE network_id = ?').all(networkId);
    return (rows as EndpointRow[]).map(endpoint);
  }
  putEndpoint(e: EndpointRecord): void {
    this.sql(
      `INSERT OR REPLACE INTO endpoints (endpoint_id, network_id, address, mac, host_veth, created_at, state, state_since, peer_veth, sandbox_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.endpointId, e.networkId, e.address, e.mac, e.hostVeth, e.createdAt, e.state, e.stateSince, e.peerVeth, e.sandboxKey);
  }
  /** Moves an endpoint to a state, with the links recorded for it (null: none). */
  setEndpointState(endpointId: string, state: EndpointState, since: number, links: { hostVeth: string | null; peerVeth: string | null }, sandboxKey?: string): void {
    this.sql('UPDATE endpoints SET state = ?, state_since = ?, host_veth = ?, peer_veth = ?, sandbox_key = COALESCE(?, sandbox_key) WHERE endpoint_id = ?')
      .run(state, since, links.hostVeth, links.peerVeth, sandboxKey ?? null, endpointId);
  }
  deleteEndpoint(endpointId: string): boolean {
    this.sql('DELETE FROM hostports WHERE endpoint_id = ?').run(endpointId);
    return this.sql('DELETE FROM endpoints WHERE endpoint_id = ?').run(endpointId).changes > 0;
  }

  // host ports
  listHostPorts(): HostPortRecord[] {
    return (this.sql('SELECT * FROM hostports ORDER BY host_port, protocol, host_ip').all() as HostPortRow[]).map(hostPort);
  }
  hostPortsOf(endpointId: string): HostPortRecord[] {
    return (this.sql('SELECT * FROM hostports WHERE endpoint_id = ?').all(endpointId) as HostPortRow[]).map(hostPort);
  }
  /** Host ports on the same protocol and port whose address overlaps hostIp ('' overlaps everything). */
  conflictingHostPorts(protocol: Protocol, hostIp: string, port: number): HostPortRecord[] {
    const rows = this.sql(
      `SELECT * FROM hostports WHERE protocol = ? AND host_port = ? AND (host_ip = '' OR ? = '' OR host_ip = ?)`,
    ).all(protocol, port, hostIp, hostIp) as HostPortRow[];
    return rows.map(hostPort);
  }
  putHostPort(h: HostPortRecord): void {
    this.sql('INSERT INTO hostports (endpoint_id, protocol, host_ip, host_port, container_port, pod_ip) VALUES (?, ?, ?, ?, ?, ?)')
      .run(h.endpointId, h.protocol, h.hostIp, h.hostPort, h.containerPort, h.podIp);
  }
  deleteHostPortsOf(endpointId: string): number {
    return this.sql('DELETE FROM hostports WHERE endpoint_id = ?').run(endpointId).changes;
  }

  // meta
  getMeta(key: string): string | undefined {
    const r = this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value;
  }
  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.sql('DELETE FROM meta WHERE key = ?').run(key);
    else this.sql('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  /** Forget everything (podnet cleanup). */
  wipe(): void {
    this.transaction(() => {
      for (const t of ['pools', 'addresses', 'networks', 'endpoints', 'hostports', 'meta']) this.db.exec(`DELETE FROM ${t}`);
    });
  }
}
