import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
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

/** The static cluster file (PODNET_CLUSTER_FILE). No file: single-node mode. */
export class StaticFileSource implements MembershipSource {
  constructor(readonly path: string) {}

  async list(): Promise<ClusterSpec | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read the cluster file ${this.path}: ${(err as Error).message}`);
    }
    try {
      return parseClusterFile(text);
    } catch (err) {
      throw new Error(`the cluster file ${this.path} is invalid: ${(err as Error).message}`);
    }
  }

  watch(onChange: () => void): () => void {
    const listener = (): void => onChange();
    watchFile(this.path, { interval: POLL_MS, persistent: false }, listener);
    return () => unwatchFile(this.path, listener);
  }
}
