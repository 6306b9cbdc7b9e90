import createDebug from 'debug';
import { errorMessage } from '../errors';

const debug = createDebug('podnet:reaper');

export interface VethReaperOptions {
  /** Most names in one request to `remove`. */
  readonly batchSize?: number;
  /** Most requests to `remove` in flight at once. */
  readonly concurrency?: number;
}

/** Up to 64 names a request: one `ip -batch` request, each line its own netlink round. */
export const REAPER_BATCH_SIZE = 64;
/**
 * Requests in flight. The kernel's cost of a deletion is mostly waiting for RCU grace periods
 * outside the rtnl lock, so deletions from several `ip` processes overlap: measured here, 300
 * veths on a bridge took 5.2 s from one process and 0.8 s from eight.
 */
export const REAPER_CONCURRENCY = 8;
/** Fewer names than this are not split over several requests. */
const MIN_BATCH = 8;

/**
 * Deletes veths in the background. The kernel takes 15-30 ms to unregister a veth here (RCU
 * grace periods; measured with a long-lived `ip`), so Leave queues the deletion and answers at
 * once: the container side has already left the sandbox and is down, so the port carries nothing
 * meanwhile. A veth whose deletion failed, or was cut short by a crash, stays on the bridge with
 * no endpoint, where the reconcile finds and removes it.
 *
 * Deletions go out in batches (what is queued when a request slot frees up, split evenly over the
 * free slots, at most `batchSize` a request) with up to `concurrency` requests in flight, so a
 * burst of stops drains at the kernel's parallel rate instead of one at a time. `remove` must be
 * safe to call concurrently (LinkDeleter spreads requests over several `ip` processes; with one
 * process they are pipelined).
 */
export class VethReaper {
  /** Queued, not yet handed to `remove`, in the order scheduled. */
  private readonly queued = new Set<string>();
  /** Handed to `remove`, not answered yet. */
  private readonly running = new Set<string>();
  private inFlight = 0;
  private idle: { promise: Promise<void>; resolve: () => void } | undefined;
  private readonly batchSize: number;
  private readonly concurrency: number;

  constructor(
    private readonly remove: (names: readonly string[]) => Promise<void>,
    opts: VethReaperOptions = {},
  ) {
    this.batchSize = Math.max(1, opts.batchSize ?? REAPER_BATCH_SIZE);
    this.concurrency = Math.max(1, opts.concurrency ?? REAPER_CONCURRENCY);
  }

  /** Queues the deletion of these links and returns at once. */
  schedule(names: readonly string[]): void {
    for (const n of names) if (!this.running.has(n)) this.queued.add(n);
    this.pump();
  }

  /** True while the link's deletion is queued or running. */
  has(name: string): boolean {
    return this.queued.has(name) || this.running.has(name);
  }

  /** How many links are queued or being deleted: a reconcile can see the reaper falling behind. */
  get backlog(): number {
    return this.queued.size + this.running.size;
  }

  /** Resolves once every deletion queued so far (and since) is done. */
  drain(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    if (!this.idle) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((r) => (resolve = r));
      this.idle = { promise, resolve };
    }
    return this.idle.promise;
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queued.size > 0) {
      // A burst is cut into about two requests per slot: requests of equal length, taken by each
      // slot as it frees up, keep every slot busy until the end (one long request would finish
      // alone). A Leave's pair (and a few more) stays one request, not one process per name.
      const size = Math.min(this.batchSize, Math.max(MIN_BATCH, Math.ceil(this.queued.size / (2 * this.concurrency))));
      const batch: string[] = [];
      for (const n of this.queued) {
        batch.push(n);
        if (batch.length >= size) break;
      }
      for (const n of batch) {
        this.queued.delete(n);
        this.running.add(n);
      }
      this.inFlight++;
      void this.removeBatch(batch).finally(() => {
        for (const n of batch) this.running.delete(n);
        this.inFlight--;
        this.pump();
        if (this.backlog === 0 && this.idle) {
          const { resolve } = this.idle;
          this.idle = undefined;
          resolve();
        }
      });
    }
  }

  /**
   * A refused batch is tried again name by name, so that one bad name does not leave the others
   * (links already gone are no failure for the remover given by the dataplane).
   */
  private async removeBatch(batch: readonly string[]): Promise<void> {
    try {
      await this.remove(batch);
      return;
    } catch (err) {
      if (batch.length === 1) {
        debug('could not delete %s (the reconcile retries): %s', batch[0], errorMessage(err));
        return;
      }
      debug('a batch of %d deletions was refused (%s): one by one', batch.length, errorMessage(err));
    }
    for (const name of batch) {
      try {
        await this.remove([name]);
      } catch (err) {
        debug('could not delete %s (the reconcile retries): %s', name, errorMessage(err));
      }
    }
  }
}
