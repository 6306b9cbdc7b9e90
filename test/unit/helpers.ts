/** Shared set-up for the unit tier: temp state dirs, a real Store, the real drivers over a fake dataplane. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/api/server';
import { routeTable } from '../../src/api/routes';
import { PodnetIpamDriver } from '../../src/driver/ipam-driver';
import { PodnetNetworkDriver } from '../../src/driver/network-driver';
import { EndpointLocks } from '../../src/driver/endpoint-locks';
import { Reconciler } from '../../src/reconcile/runner';
import { Ipam } from '../../src/ipam/ipam';
import { loadSettings, type Settings } from '../../src/settings';
import { Store } from '../../src/store/store';
import { FakeDataplane } from './fake-dataplane';

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-unit-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Settings from a hermetic environment (process.env is never read). */
export function settingsFor(env: Record<string, string> = {}): Settings {
  return loadSettings(env);
}

/** Everything a store holds, for "nothing changed" assertions. */
export function snapshot(store: Store): unknown {
  return {
    pools: store.listPools(),
    addresses: store.listAddresses().sort((a, b) => a.address - b.address),
    networks: store.listNetworks(),
    endpoints: store.listEndpoints().sort((a, b) => a.endpointId.localeCompare(b.endpointId)),
    hostPorts: store.listHostPorts(),
  };
}

export interface Clock {
  t: number;
}

export interface World {
  readonly dir: string;
  readonly settings: Settings;
  store: Store;
  ipam: Ipam;
  readonly dataplane: FakeDataplane;
  network: PodnetNetworkDriver;
  ipamDriver: PodnetIpamDriver;
  reconciler: Reconciler;
  locks: EndpointLocks;
  server: Server;
  readonly clock: Clock;
  /** Closes the store and opens it again with new Ipam/driver instances and a new server (a plugin restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A podnet over a real Store in a fresh temp dir, a fake dataplane and an HTTP server on 127.0.0.1. */
export async function makeWorld(env: Record<string, string> = {}, ready: () => Promise<void> = async () => undefined): Promise<World> {
  const { dir, remove } = tempDir();
  const settings = settingsFor({ PODNET_STATE_DIR: dir, ...env });
  const clock: Clock = { t: 1_000_000 };
  const dataplane = new FakeDataplane();
  const build = async (): Promise<Pick<World, 'store' | 'ipam' | 'network' | 'ipamDriver' | 'server' | 'reconciler' | 'locks'>> => {
    const store = Store.open(dir);
    // Wired as main.ts does it.
    const ipam = new Ipam(store, { ...settings, graceMs: settings.addressGraceMs }, () => clock.t);
    const locks = new EndpointLocks();
    const network = new PodnetNetworkDriver({ settings, store, ipam, dataplane, locks, now: () => clock.t });
    const ipamDriver = new PodnetIpamDriver(ipam, (poolId) => network.releasePool(poolId));
    const reconciler = new Reconciler({ store, dataplane, ipam, driver: network, locks, bridge: settings.bridge, graceMs: settings.addressGraceMs, now: () => clock.t });
    dataplane.endpointOf = (v) => store.listEndpoints().find((e) => e.hostVeth === v)?.endpointId ?? '';
    const server = createServer(createApp(routeTable({ network, ipam: ipamDriver }), ready));
    await listen(server);
    return { store, ipam, network, ipamDriver, server, reconciler, locks };
  };
  const w: World = {
    dir,
    settings,
    clock,
    dataplane,
    ...(await build()),
    async restart() {
      await closeServer(w.server);
      w.store.close();
      Object.assign(w, await build());
    },
    async close() {
      await closeServer(w.server);
      w.store.close();
      remove();
    },
  };
  return w;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/**
 * A POST exactly as the caller describes it (no header added but Host and, with a body,
 * Content-Length): how Docker talks, with no Content-Type.
 */
export function rawPost(server: Server, path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<RawResponse> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** 64-hex IDs as Docker makes them, distinct per seed. */
export function hexId(seed: number): string {
  return (seed.toString(16).padStart(4, '0') + 'abcdef0123456789').repeat(4).slice(0, 64);
}
