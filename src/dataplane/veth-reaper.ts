import createDebug from 'debug';
import { errorMessage } from '../errors';

const debug = createDebug('podnet:reaper');

/**
 * Deletes veths in the background. The kernel takes 15-30 ms to unregister a veth here (RCU
 * grace periods; measured with a long-lived `ip`), so Leave queues the deletion and answers at
 * once: the container side has already left the sandbox and is down, so the port carries nothing
 * meanwhile. A veth whose deletion failed, or was cut short by a crash, stays on the bridge with
 * no endpoint, where the reconcile finds and removes it.
 */
export class VethReaper {
  private readonly pending = new Set<string>();
  private worker: Promise<void> | undefined;

  constructor(private readonly remove: (names: readonly string[]) => Promise<void>) {}

  /** Queues the deletion of these links and returns at once. */
  schedule(names: readonly string[]): void {
    for (const n of names) this.pending.add(n);
    this.worker ??= this.work().finally(() => {
      this.worker = undefined;
    });
  }

  /** True while the link's deletion is queued or running. */
  has(name: string): boolean {
    return this.pending.has(name);
  }

  /** Resolves once every deletion queued so far (and since) is done. */
  async drain(): Promise<void> {
    while (this.worker) await this.worker;
  }

  private async work(): Promise<void> {
    while (this.pending.size > 0) {
      // One at a time: a Join waiting behind a long batch would wait for all of it.
      const name = this.pending.values().next().value as string;
      try {
        await this.remove([name]);
      } catch (err) {
        debug('could not delete %s (the reconcile retries): %s', name, errorMessage(err));
      }
      this.pending.delete(name);
    }
  }
}
