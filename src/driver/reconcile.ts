import createDebug from 'debug';
import { errorMessage } from '../errors';
import type { Dataplane } from '../dataplane/dataplane';
import type { Ipam } from '../ipam/ipam';
import type { Store } from '../store/store';
import type { PodnetNetworkDriver } from './network-driver';
import { hostVethName } from '../dataplane/names';
import type { OverlayState } from '../dataplane/ovs-rules';

const debug = createDebug('podnet:reconcile');

export interface ReconcileReport {
  readonly deadEndpoints: number;
  readonly orphanVeths: number;
  readonly reclaimedAddresses: number;
  readonly hostPortErrors: readonly string[];
  readonly overlayWarning?: string;
}

/**
 * Makes the host match the store, idempotently: node plumbing while a network exists (and none
 * while none does), host ports re-held and their rules rewritten, jumps re-inserted. An endpoint
 * whose veth is gone is dead (its container went while podnet was away): it is forgotten, and its
 * address goes back after the grace period. Veths of no endpoint are removed.
 */
export async function reconcile(deps: {
  store: Store;
  dataplane: Dataplane;
  ipam: Ipam;
  driver: PodnetNetworkDriver;
  /** The overlay this node should have now (undefined: single node). */
  overlay?: () => OverlayState | undefined;
}): Promise<ReconcileReport> {
  const { store, dataplane, ipam, driver } = deps;
  if (store.listNetworks().length === 0) {
    await dataplane.teardownNode();
    return { deadEndpoints: 0, orphanVeths: 0, reclaimedAddresses: ipam.reclaim(), hostPortErrors: [] };
  }
  await dataplane.ensureNode();
  const overlayWarning = await dataplane.ensureOverlay(deps.overlay?.());
  // Endpoints are read before the veths are listed: a veth recorded after this read is not judged.
  const endpoints = store.listEndpoints();
  const veths = new Set(await dataplane.listEndpointVeths());
  let dead = 0;
  for (const ep of endpoints) {
    if (ep.hostVeth === null || driver.inFlight.has(ep.endpointId) || veths.has(ep.hostVeth)) continue;
    debug('endpoint %s lost its veth %s: forgetting it', ep.endpointId.slice(0, 12), ep.hostVeth);
    await driver.forgetEndpoint(ep);
    dead++;
  }
  const owned = new Set(store.listEndpoints().map((e) => e.hostVeth).filter((v): v is string => v !== null));
  const inFlightVeths = [...driver.inFlight].map(hostVethName);
  const orphans = [...veths].filter((v) => !owned.has(v) && !inFlightVeths.includes(v));
  if (orphans.length > 0) {
    debug('removing %d veth(s) of no endpoint: %s', orphans.length, orphans.join(', '));
    await dataplane.removeVeths(orphans);
  }
  const hostPortErrors: string[] = [];
  for (const h of store.listHostPorts()) {
    try {
      await dataplane.holdHostPort(h.protocol, h.hostIp, h.hostPort);
    } catch (err) {
      // The rule still forwards the port; a host process that took it meanwhile is reported.
      hostPortErrors.push(errorMessage(err));
    }
  }
  await dataplane.applyFirewall(driver.firewallState(), { checkJumps: true });
  const reclaimedAddresses = ipam.reclaim();
  return { deadEndpoints: dead, orphanVeths: orphans.length, reclaimedAddresses, hostPortErrors, ...(overlayWarning ? { overlayWarning } : {}) };
}
