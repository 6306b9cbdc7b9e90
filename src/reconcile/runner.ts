import createDebug from 'debug';
import { errorMessage } from '../errors';
import type { Dataplane } from '../dataplane/dataplane';
import type { OverlayState } from '../dataplane/ovs-rules';
import type { Ipam } from '../ipam/ipam';
import type { Store } from '../store/store';
import type { PodnetNetworkDriver } from '../driver/network-driver';
import type { EndpointLocks } from '../driver/endpoint-locks';
import { SerialQueue } from '../util/serial';
import { planLifecycle } from './lifecycle';

const debug = createDebug('podnet:reconcile');

/** How often the host is checked against the store while running. */
export const RECONCILE_INTERVAL_MS = 30_000;

export interface ReconcileReport {
  readonly deadEndpoints: number;
  readonly reattached: number;
  readonly orphanLinks: number;
  readonly staleNetworks: number;
  readonly reclaimedAddresses: number;
  readonly hostPortErrors: readonly string[];
  readonly overlayWarning?: string;
}

export interface ReconcilerDeps {
  readonly store: Store;
  readonly dataplane: Dataplane;
  readonly ipam: Ipam;
  readonly driver: PodnetNetworkDriver;
  readonly locks: EndpointLocks;
  readonly bridge: string;
  readonly graceMs: number;
  /** The overlay this node should have now (undefined: single node). */
  readonly overlay?: () => OverlayState | undefined;
  readonly now?: () => number;
}

/**
 * The one runner of the node's desired state: it computes the plan (reconcile/lifecycle.ts,
 * pure) from the store and the kernel's evidence and applies it, one pass at a time. Triggers:
 * start, membership changes (overlay only), SIGHUP and a timer.
 */
export class Reconciler {
  private readonly queue = new SerialQueue();
  private timer: NodeJS.Timeout | undefined;
  private lastWarning: string | undefined;

  constructor(private readonly d: ReconcilerDeps) {}

  /** A full pass; errors are logged, never thrown (the next pass retries). */
  run(): Promise<ReconcileReport | undefined> {
    return this.queue.run(async () => {
      try {
        const started = process.hrtime.bigint();
        const report = await this.pass();
        debug('reconciled in %s ms: %o', (Number(process.hrtime.bigint() - started) / 1e6).toFixed(1), report);
        for (const e of report.hostPortErrors) console.error(`podnet: host port: ${e}`);
        this.noteWarning(report.overlayWarning);
        return report;
      } catch (err) {
        console.error(`podnet: reconcile failed (will retry in ${RECONCILE_INTERVAL_MS / 1000}s): ${errorMessage(err)}`);
        return undefined;
      }
    });
  }

  /** A membership change touches only the overlay: apply just that. */
  applyMembership(): Promise<void> {
    return this.queue.run(async () => {
      if (this.d.store.listNetworks().length === 0) return; // no overlay without a network
      try {
        this.noteWarning(await this.d.dataplane.ensureOverlay(this.d.overlay?.()));
      } catch (err) {
        console.error(`podnet: applying the cluster change failed (the reconcile retries within ${RECONCILE_INTERVAL_MS / 1000}s): ${errorMessage(err)}`);
      }
    });
  }

  startTimer(before: () => Promise<unknown>): void {
    this.timer = setInterval(() => void before().then(() => this.run()), RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** An overlay warning is printed when it first appears, not on every pass that finds it again. */
  private noteWarning(warning: string | undefined): void {
    if (warning && warning !== this.lastWarning) console.error(`podnet: ${warning}`);
    this.lastWarning = warning;
  }

  private async pass(): Promise<ReconcileReport> {
    const { store, dataplane, ipam, driver } = this.d;
    const now = (this.d.now ?? Date.now)();
    // Rows are read before the kernel is: a link recorded after this read is not judged.
    const plan = planLifecycle({
      endpoints: store.listEndpoints(),
      networks: store.listNetworks(),
      pools: store.listPools(),
      veths: await dataplane.inspectVeths(),
      busy: this.d.locks.busy(),
      reaping: dataplane.reaping(),
      bridge: this.d.bridge,
      now,
      graceMs: this.d.graceMs,
    });
    for (const id of plan.staleNetworks) {
      debug('network %s has no pool any more (Docker rolled its create back): removing it', id.slice(0, 12));
      for (const ep of store.listEndpoints(id)) await driver.endEndpoint(ep.endpointId, 'dead', 'its network was never created for Docker');
      store.deleteNetwork(id);
    }
    for (const { endpoint, reason } of plan.dead) {
      // Judged on a snapshot: a request that took the lock since may have changed it.
      if (this.d.locks.isBusy(endpoint.endpointId)) continue;
      await driver.endEndpoint(endpoint.endpointId, 'dead', reason);
    }
    if (plan.orphans.length > 0) {
      debug('removing %d link(s) of no endpoint: %s', plan.orphans.length, plan.orphans.join(', '));
      dataplane.detachLinks(plan.orphans);
    }
    if (store.listNetworks().length === 0) {
      await dataplane.teardownNode();
      return { deadEndpoints: plan.dead.length, reattached: 0, orphanLinks: plan.orphans.length, staleNetworks: plan.staleNetworks.length, reclaimedAddresses: ipam.reclaim(), hostPortErrors: [] };
    }
    await dataplane.ensureNode();
    if (plan.reattach.length > 0) {
      console.error(`podnet: ${plan.reattach.length} live endpoint(s) were not on ${this.d.bridge} (it was recreated?): attached again`);
      await dataplane.reattachVeths(plan.reattach);
    }
    const overlayWarning = await dataplane.ensureOverlay(this.d.overlay?.());
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
    return {
      deadEndpoints: plan.dead.length,
      reattached: plan.reattach.length,
      orphanLinks: plan.orphans.length,
      staleNetworks: plan.staleNetworks.length,
      reclaimedAddresses: ipam.reclaim(),
      hostPortErrors,
      ...(overlayWarning ? { overlayWarning } : {}),
    };
  }
}
