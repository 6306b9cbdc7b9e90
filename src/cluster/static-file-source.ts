import { readFile } from 'node:fs/promises';
import { unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { SettingsError } from '../errors';
import { parseClusterFile, type ClusterSpec } from './cluster-file';

/** A membership source: what the cluster is now, and a way to hear that it changed. */
export interface MembershipSource {
  /** The current cluster, or undefined for single-node mode. Throws on an invalid source. */
  list(): Promise<ClusterSpec | undefined>;
  /** Calls onChange (maybe more than once) after the source changed; returns a stop function. */
  watch(onChange: () => void): () => void;
}

/** How often the file is checked. Polling the path survives editors that replace files by rename. */
const POLL_MS = 1000;
/** Quiet time after a change event before the file is read, so a write in progress is not judged. */
const EVENT_SETTLE_MS = 50;

/** The static cluster file (PODNET_CLUSTER_FILE). No file: single-node mode. */
export class StaticFileSource implements MembershipSource {
  constructor(readonly path: string) {}

  async list(): Promise<ClusterSpec | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SettingsError(
        `cannot read the cluster file ${this.path} (PODNET_CLUSTER_FILE): ${(err as Error).message}: ` +
          'make it readable by podnet (root), or point PODNET_CLUSTER_FILE at another file',
      );
    }
    try {
      return parseClusterFile(text);
    } catch (err) {
      throw new SettingsError(
        `the cluster file ${this.path} (PODNET_CLUSTER_FILE) is invalid: ${(err as Error).message}: ` +
          'fix it (the README\'s Multi-host section shows the format), or remove it for single-node mode',
      );
    }
  }

  watch(onChange: () => void): () => void {
    const listener = (): void => onChange();
    watchFile(this.path, { interval: POLL_MS, persistent: false }, listener);
    // inotify on the folder sees a write or a rename at once (polling alone costs up to a second
    // per membership change); a burst of events, like an editor's write-then-rename, is one change.
    let folder: FSWatcher | undefined;
    let burst: NodeJS.Timeout | undefined;
    try {
      folder = watch(dirname(this.path), { persistent: false }, (_event, name) => {
        if (name !== null && name.toString() !== basename(this.path)) return;
        if (burst) clearTimeout(burst);
        burst = setTimeout(listener, EVENT_SETTLE_MS);
        burst.unref();
      });
      folder.on('error', () => folder?.close()); // e.g. the folder removed: polling goes on
    } catch {
      // No folder yet (or no inotify): polling notices the file when it comes.
    }
    return () => {
      unwatchFile(this.path, listener);
      folder?.close();
      if (burst) clearTimeout(burst);
    };
  }
}
