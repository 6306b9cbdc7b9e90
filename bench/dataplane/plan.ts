/**
 * Which (path, underlay) cases a run measures, and what became of each: a result, or a reason in
 * `skipped`. Every planned case ends as one or the other (never silently dropped).
 */
import type { Lab } from '../../test/harness/lab';
import type { DataPathResult, DataPlaneResult } from '../types';
import { measurePath, type Endpoint, type PathCase, type Timing } from './measure';
import type { Underlay, UnderlayKind } from './underlay';

export interface CaseId {
  readonly path: string;
  readonly underlay: UnderlayKind;
}

type Skipped = DataPlaneResult['skipped'][number];

const key = (c: CaseId): string => `${c.path}/${c.underlay}`;

export class Plan {
  readonly paths: DataPathResult[] = [];
  readonly skipped: Skipped[] = [];
  private readonly open = new Map<string, CaseId>();

  constructor(
    wanted: readonly CaseId[],
    readonly timing: Timing,
    readonly log: (line: string) => void,
  ) {
    for (const c of wanted) this.open.set(key(c), c);
  }

  wants(path: string, underlay: UnderlayKind): boolean {
    return this.open.has(key({ path, underlay }));
  }

  /** Any of these paths still wanted (on either underlay)? */
  wantsAny(...paths: string[]): boolean {
    return [...this.open.values()].some((c) => paths.includes(c.path));
  }

  skip(c: CaseId, reason: string): void {
    if (!this.open.delete(key(c))) return;
    this.skipped.push({ path: c.path, underlay: c.underlay, reason });
    this.log(`dataplane: skipped ${c.path} [${c.underlay}]: ${reason}`);
  }

  /** Measure a planned case; a failure becomes a skipped entry with the error. */
  async measure(c: PathCase): Promise<void> {
    if (!this.wants(c.path, c.underlay)) return;
    try {
      const res = await measurePath(c, this.timing, this.log);
      this.open.delete(key(c));
      this.paths.push(res);
    } catch (err) {
      this.skip(c, `failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  /**
   * Measure a path on every underlay kind still wanted for it, the current kind first (the kinds
   * then alternate between paths, which spreads a shared machine's drift over both and saves
   * ethtool switches). `wireNote` is appended to the notes of the wire-like measurement.
   */
  async measureOnUnderlays(underlay: Underlay, path: string, label: string, client: Endpoint, server: Endpoint, notes: string, wireNote?: string): Promise<void> {
    const order: UnderlayKind[] = underlay.kind === 'veth' ? ['veth', 'wire'] : ['wire', 'veth'];
    for (const kind of order.filter((k) => this.wants(path, k))) {
      await underlay.set(kind);
      await this.measure({ path, label, underlay: kind, client, server, notes: kind === 'wire' && wireNote ? `${notes}; ${wireNote}` : notes });
    }
  }

  /** Planned cases of `paths` that a failed phase did not reach. */
  abandon(paths: readonly string[], reason: string): void {
    for (const c of [...this.open.values()]) if (paths.includes(c.path)) this.skip(c, reason);
  }

  /** Cases nobody measured or skipped (a bug in a phase): reported, not lost. */
  leftovers(): void {
    for (const c of [...this.open.values()]) this.skip(c, 'not reached (no phase measured it)');
  }
}

/**
 * lab.destroy(), with a failure logged instead of thrown: the measurements stay valid, and the
 * person running the benchmark must see what was left behind.
 */
export async function destroyLab(lab: Lab | undefined, log: (line: string) => void): Promise<void> {
  try {
    await lab?.destroy();
  } catch (err) {
    log(`dataplane: TEARDOWN FAILED, check \`ip netns list\`: ${(err as Error).message}`);
  }
}
