import { mkdirSync } from 'node:fs';
import { LinuxDataplane } from '../dataplane/linux';
import { linkExists, bridgePorts, deleteLinks } from '../dataplane/bridge';
import { HOST_VETH_PATTERN } from '../dataplane/names';
import { acquireLock } from '../lock';
import { loadSettings } from '../settings';
import { Store } from '../store/store';

/**
 * `podnet cleanup`: removes every piece of podnet host state (veths, bridge, firewall chains and
 * jumps) and forgets the state database. Refuses while a plugin runs on the same state dir.
 */
export async function cleanup(): Promise<void> {
  const settings = loadSettings();
  mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
  const lock = acquireLock(settings.stateDir);
  const store = Store.open(settings.stateDir);
  try {
    const dataplane = new LinuxDataplane(settings, store);
    await dataplane.teardownNode();
    // teardownNode keeps a bridge podnet did not create or that others use; cleanup means all of podnet.
    if (await linkExists(settings.bridge)) {
      const ports = await bridgePorts(settings.bridge);
      await deleteLinks(ports.filter((p) => HOST_VETH_PATTERN.test(p)));
      const foreign = (await bridgePorts(settings.bridge)).filter((p) => !HOST_VETH_PATTERN.test(p));
      if (foreign.length === 0) await deleteLinks([settings.bridge]);
      else console.log(`podnet: kept ${settings.bridge}: other interfaces use it (${foreign.join(', ')})`);
    }
    store.wipe();
    await dataplane.close();
    console.log('podnet: cleanup done: veths, bridge, firewall chains and state removed');
  } finally {
    store.close();
    lock.release();
  }
}
