/**
 * Runs async tasks one at a time, in order. Host changes that rewrite a whole piece of state
 * (the firewall chains, the bridge) must not interleave.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
