import { mkdirSync } from 'node:fs';
import { LinuxDataplane } from '../dataplane/linux';
import { linkExists, bridgePorts, deleteLinks } from '../dataplane/bridge';
import { HOST_VETH_PATTERN } from '../dataplane/names';
import { checkBridge } from '../dataplane/bridge-check';
import { errorMessage } from '../errors';
import { acquireLock } from '../lock';
import { loadSettings } from '../settings';
import { Store } from '../store/store';

/** The store's record that podnet made the bridge (LinuxDataplane.ensureNode writes it). */
const META_CREATED_BRIDGE = 'created_bridge';

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
    let isBridge = true;
    try {
      await checkBridge(settings.bridge);
    } catch (err) {
      // Not a bridge: never podnet's to delete, whatever the store says (teardownNode reads the
      // record too), nor are its "ports" (it has none).
      isBridge = false;
      store.setMeta(META_CREATED_BRIDGE, undefined);
      console.log(`podnet: ${errorMessage(err)}`);
    }
    // Read before teardownNode, which forgets it: only a bridge podnet made is podnet's to delete.
    const createdBridge = store.getMeta(META_CREATED_BRIDGE) === '1';
    const dataplane = new LinuxDataplane(settings, store);
    await dataplane.teardownNode();
    // teardownNode keeps a bridge that others use; cleanup means all of podnet, so podnet's own
    // veths go from it in any case, and the bridge too when podnet created it and nothing else is on it.
    if (isBridge && (await linkExists(settings.bridge))) {
      const ports = await bridgePorts(settings.bridge);
      await deleteLinks(ports.filter((p) => HOST_VETH_PATTERN.test(p)));
      const foreign = (await bridgePorts(settings.bridge)).filter((p) => !HOST_VETH_PATTERN.test(p));
      if (!createdBridge) {
        console.log(`podnet: kept ${settings.bridge}: podnet did not create it (or has no record of it); \`ip link del ${settings.bridge}\` removes it`);
      } else if (foreign.length === 0) {
        await deleteLinks([settings.bridge]);
      } else {
        console.log(`podnet: kept ${settings.bridge}: other interfaces use it (${foreign.join(', ')})`);
      }
    }
    const bridgeRemoved = createdBridge && !(await linkExists(settings.bridge));
    store.wipe();
    await dataplane.close();
    console.log(`podnet: cleanup done: veths, ${bridgeRemoved ? 'bridge, ' : ''}firewall chains and state removed`);
  } finally {
    store.close();
    lock.release();
  }
}
