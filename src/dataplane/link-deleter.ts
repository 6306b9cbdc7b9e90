import createDebug from 'debug';
import { CommandFailedError } from '../errors';
import { ipLine } from './host';
import { IpSession } from './ip-session';
import { REAPER_CONCURRENCY } from './veth-reaper';

const debug = createDebug('podnet:link-deleter');

interface Lane {
  readonly session: IpSession;
  busy: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Deletes links over several long-lived `ip -batch` processes of its own, so that concurrent
 * requests really run at once (one `ip` runs its requests one after the other, and each deletion
 * waits tens of milliseconds for the kernel). Each request goes to the least busy process; a
 * process idle for `idleMs` is ended, and started again when needed (starting one costs ~10 ms,
 * nothing next to a burst of deletions). Separate from the plugin's own sessions: a Join never
 * waits behind these.
 */
export class LinkDeleter {
  private readonly lanes: Lane[];

  constructor(
    lanes = REAPER_CONCURRENCY,
    private readonly idleMs = 5000,
  ) {
    this.lanes = Array.from({ length: Math.max(1, lanes) }, () => ({ session: new IpSession(), busy: 0, timer: undefined }));
  }

  /** Deletes the links; absent ones are fine. Throws the first other refusal, naming the command. */
  async remove(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const lines = names.map((n) => ipLine(['link', 'del', n]));
    // The least busy lane; among idle ones the first, so a trickle of Leaves keeps using one process.
    let lane = this.lanes[0] as Lane;
    for (const l of this.lanes) if (l.busy < lane.busy) lane = l;
    lane.busy++;
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = undefined;
    try {
      const failures = await lane.session.exec(lines);
      const bad = failures.find((f) => !/Cannot find device/.test(f.message));
      if (bad) throw new CommandFailedError(['ip', ...bad.line.split(' ')], 1, bad.message);
    } finally {
      lane.busy--;
      if (lane.busy === 0) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          debug('closing an idle ip');
          lane.session.close();
        }, this.idleMs);
        lane.timer.unref();
      }
    }
  }

  /** Ends every process (the plugin is stopping); a later remove starts them again. */
  close(): void {
    for (const l of this.lanes) {
      if (l.timer) clearTimeout(l.timer);
      l.timer = undefined;
      l.session.close();
    }
  }
}
