import createDebug from 'debug';
import { run } from './host';
import { buildRemovalPayload, buildRestorePayload, JUMPS, parseSave, type FirewallState } from './firewall-rules';
import { SerialQueue } from '../util/serial';

const debug = createDebug('podnet:firewall');

/**
 * Applies podnet's iptables chains (iptables-nft on Debian 12, where Docker's rules live too) in
 * one iptables-restore per change. Jumps are checked against iptables-save when asked (at start
 * and on reconcile) and otherwise assumed in place, so a host-port change costs one process.
 */
export class Firewall {
  private readonly queue = new SerialQueue();
  private jumpsChecked = false;

  apply(state: FirewallState, opts: { checkJumps?: boolean } = {}): Promise<void> {
    return this.queue.run(async () => {
      let missing: typeof JUMPS = [];
      if (opts.checkJumps || !this.jumpsChecked) {
        const presence = parseSave((await run(['iptables-save'])).stdout);
        missing = JUMPS.filter((j) => (presence.jumpCounts.get(j) ?? 0) === 0);
        if (missing.length > 0) debug('inserting missing jumps: %o', missing.map((j) => `${j.table}/${j.chain}`));
      }
      await run(['iptables-restore', '-w', '--noflush'], { input: buildRestorePayload(state, missing) });
      this.jumpsChecked = true;
    });
  }

  remove(): Promise<void> {
    return this.queue.run(async () => {
      const payload = buildRemovalPayload(parseSave((await run(['iptables-save'])).stdout));
      if (payload !== '') await run(['iptables-restore', '-w', '--noflush'], { input: payload });
      this.jumpsChecked = false;
    });
  }
}
