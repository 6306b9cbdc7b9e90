/**
 * One lock per endpoint, shared by the driver (requests) and the reconciler (judging and killing
 * endpoints): operations on one endpoint never interleave, and the reconciler skips an endpoint
 * a request holds rather than judging it half-made.
 */
export class EndpointLocks {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly holders = new Map<string, number>();

  /** Runs fn while holding this endpoint's lock (waits for earlier holders). */
  with<T>(endpointId: string, fn: () => Promise<T>): Promise<T> {
    this.holders.set(endpointId, (this.holders.get(endpointId) ?? 0) + 1);
    const prev = this.tails.get(endpointId) ?? Promise.resolve();
    const result = prev.then(fn, fn);
    const tail = result.catch(() => undefined).finally(() => {
      const n = (this.holders.get(endpointId) ?? 1) - 1;
      if (n === 0) this.holders.delete(endpointId);
      else this.holders.set(endpointId, n);
      if (this.tails.get(endpointId) === tail) this.tails.delete(endpointId);
    });
    this.tails.set(endpointId, tail);
    return result;
  }

  /** Endpoints held or waited for right now. */
  busy(): ReadonlySet<string> {
    return new Set(this.holders.keys());
  }

  isBusy(endpointId: string): boolean {
    return this.holders.has(endpointId);
  }
}
