import { existsSync } from 'node:fs';
import createDebug from 'debug';
import { createApp, createPluginServer, closeServer } from './api/server';
import { listenOnSocket, removeSocket, socketIsLive } from './api/socket';
import { routeTable } from './api/routes';
import { LinuxDataplane } from './dataplane/linux';
import { PodnetIpamDriver } from './driver/ipam-driver';
import { PodnetNetworkDriver } from './driver/network-driver';
import { EndpointLocks } from './driver/endpoint-locks';
import { Reconciler } from './reconcile/runner';
import { LockedError, SettingsError, errorMessage } from './errors';
import { Ipam } from './ipam/ipam';
import { acquireLock } from './lock';
import { loadSettings } from './settings';
import { contains, formatCidr, formatIpv4 } from './model/cidr';
import { ClusterController } from './cluster/controller';
import { StaticFileSource } from './cluster/static-file-source';
import { setProcRoot } from './dataplane/host';
import { Store } from './store/store';

const debug = createDebug('podnet:main');

/** Where config.json mounts the host's /proc in the managed plugin. */
const HOST_PROC = '/host/proc';

/**
 * How long SIGTERM waits for requests in flight (a Join creating links) before cutting them:
 * under systemd's TimeoutStopSec=10 with room for closing the dataplane and the store.
 */
const STOP_DEADLINE_MS = 8000;

/** `podnet serve`: wiring only. Settings -> cluster -> lock -> state -> dataplane -> drivers -> socket. */
export async function serve(): Promise<void> {
  const base = loadSettings();
  // A managed plugin sees its own /proc/sys read-only; its manifest mounts the host's /proc here.
  if (existsSync(`${HOST_PROC}/sys/net/ipv4`)) setProcRoot(HOST_PROC);
  // Configuration errors first (they need no lock): settings, then the cluster file.
  const datapath = base.ovsDatapath !== 'auto' ? base.ovsDatapath : existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
  const cluster = await ClusterController.start(base, new StaticFileSource(base.clusterFile), datapath);
  const lock = acquireLock(base.stateDir); // creates the state dir; not root: says so
  if (await socketIsLive(base.socket)) {
    lock.release();
    throw new LockedError(`${base.socket} is served by another running plugin: stop it first, or set PODNET_SOCKET`);
  }
  const settings = cluster.current.settings;
  const store = Store.open(settings.stateDir);
  const stray = store.listEndpoints().find((e) => !contains(settings.nodeSubnet, e.address));
  if (stray) {
    store.close();
    lock.release();
    throw new SettingsError(
      `this node's subnet is now ${formatCidr(settings.nodeSubnet)}, but endpoint ${stray.endpointId.slice(0, 12)} has ${formatIpv4(stray.address)}: ` +
        'remove podnet\'s containers first, or keep the old subnet',
    );
  }
  const ipam = new Ipam(store, { ...settings, graceMs: settings.addressGraceMs });
  const dataplane = new LinuxDataplane(settings, store, cluster.current.self?.ip);
  const locks = new EndpointLocks();
  const network = new PodnetNetworkDriver({ settings, store, ipam, dataplane, locks, overlay: () => cluster.overlay() });
  const ipamDriver = new PodnetIpamDriver(ipam, (poolId) => network.releasePool(poolId));
  const reconciler = new Reconciler({
    store, dataplane, ipam, driver: network, locks, bridge: settings.bridge, graceMs: settings.addressGraceMs, overlay: () => cluster.overlay(),
  });
  // Docker kills a managed plugin that does not answer within ~9.5 s: serve first, reconcile
  // in the background, and make the calls that depend on host state wait for it.
  const ready = reconciler.run().then(() => undefined);
  const app = createApp(routeTable({ network, ipam: ipamDriver }), () => ready);

  const server = createPluginServer(app);
  await listenOnSocket(server, settings.socket); // 0600 from birth; never removes what is not a stale socket
  const self = cluster.current.self;
  const mode = self
    ? `node ${self.name} of a ${cluster.current.peers.length + 1}-node cluster, ${settings.tunnel}/${settings.topology}, OVS datapath ${datapath}`
    : 'single node';
  console.log(`podnet: serving ${settings.socket} (${mode}; node subnet ${formatCidr(settings.nodeSubnet)}; state ${settings.stateDir})`);

  // Membership changes apply within seconds: the file is polled. SIGHUP re-reads it and
  // reconciles whatever changed or not (an administrator's "put everything back now").
  const unwatch = cluster.watch((): void => {
    void ready.then(() => cluster.reload()).then((changed) => (changed ? reconciler.applyMembership() : undefined));
  });
  process.on('SIGHUP', (): void => {
    void ready.then(() => cluster.reload()).then(() => reconciler.run());
  });
  reconciler.startTimer(() => ready);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    debug('%s: stopping', signal);
    reconciler.stop();
    unwatch();
    await closeServer(server, STOP_DEADLINE_MS);
    removeSocket(settings.socket);
    await dataplane.close();
    store.close();
    lock.release();
    console.log(`podnet: stopped (${signal}); kernel state left in place`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
