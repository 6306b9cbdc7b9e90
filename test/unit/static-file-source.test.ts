import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StaticFileSource } from '../../src/cluster/static-file-source';

/** Resolves with the ms until the watcher fired, or rejects after `ms`. */
function firstChange(src: StaticFileSource, act: () => void, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no change seen within ${ms} ms`));
    }, ms);
    const stop = src.watch(() => {
      clearTimeout(timer);
      stop();
      resolve(Date.now() - start);
    });
    act();
  });
}

describe('StaticFileSource.watch', () => {
  test('a file replaced by rename is seen at once, well before the 1 s poll', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-watch-'));
    try {
      const file = join(dir, 'cluster.json');
      writeFileSync(file, '{}');
      const src = new StaticFileSource(file);
      const ms = await firstChange(src, () => {
        writeFileSync(join(dir, '.cluster.json.tmp'), '{"x":1}');
        renameSync(join(dir, '.cluster.json.tmp'), file);
      }, 600);
      assert.ok(ms < 600, `seen after ${ms} ms`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('other files in the folder do not count as a change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-watch-'));
    try {
      writeFileSync(join(dir, 'cluster.json'), '{}');
      const src = new StaticFileSource(join(dir, 'cluster.json'));
      await assert.rejects(firstChange(src, () => writeFileSync(join(dir, 'other.json'), '{}'), 400), /no change seen/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing folder falls back to polling without throwing', () => {
    const src = new StaticFileSource('/nonexistent-podnet-dir/cluster.json');
    const stop = src.watch(() => undefined);
    stop();
  });
});
