import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VethReaper } from '../../src/dataplane/veth-reaper';

describe('VethReaper', () => {
  test('schedule returns at once; drain waits until every queued link is removed, in order', async () => {
    const removed: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const reaper = new VethReaper(async (names) => {
      await gate;
      removed.push(...names);
    });
    reaper.schedule(['pna', 'pta']);
    reaper.schedule(['pnb']);
    assert.ok(reaper.has('pna') && reaper.has('pnb'));
    assert.deepEqual(removed, [], 'nothing removed before the kernel answers');
    release();
    await reaper.drain();
    assert.deepEqual(removed, ['pna', 'pta', 'pnb']);
    assert.equal(reaper.has('pna'), false);
  });

  test('a failed removal is not thrown to anyone and does not stop the others', async () => {
    const removed: string[] = [];
    const reaper = new VethReaper(async (names) => {
      if (names[0] === 'pnbad') throw new Error('Operation not permitted');
      removed.push(...names);
    });
    reaper.schedule(['pnbad', 'pngood']);
    await reaper.drain();
    assert.deepEqual(removed, ['pngood']);
    assert.equal(reaper.has('pnbad'), false, 'left for the reconcile, not retried forever');
  });

  test('links queued while the worker runs are removed before drain resolves', async () => {
    const removed: string[] = [];
    const reaper = new VethReaper(async (names) => {
      await new Promise((r) => setTimeout(r, 5));
      removed.push(...names);
      if (names[0] === 'pn1') reaper.schedule(['pn2']);
    });
    reaper.schedule(['pn1']);
    await reaper.drain();
    assert.deepEqual(removed, ['pn1', 'pn2']);
  });

  test('drain with nothing queued resolves at once', async () => {
    await new VethReaper(async () => undefined).drain();
  });
});

/** A remover that records every request and how many ran at once; each request takes `ms`. */
function recorder(ms: number): { calls: string[][]; maxInFlight: () => number; remove: (names: readonly string[]) => Promise<void> } {
  const calls: string[][] = [];
  let inFlight = 0;
  let max = 0;
  return {
    calls,
    maxInFlight: () => max,
    remove: async (names) => {
      inFlight++;
      max = Math.max(max, inFlight);
      calls.push([...names]);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
    },
  };
}

describe('VethReaper: batches in parallel', () => {
  test('a burst goes out in batches of at most 64 names, several requests at once, every name once', async () => {
    const r = recorder(20);
    const reaper = new VethReaper(r.remove);
    const names = Array.from({ length: 1000 }, (_, i) => `pn${i}`);
    for (let i = 0; i < names.length; i += 2) reaper.schedule(names.slice(i, i + 2)); // one Leave at a time
    const started = Date.now();
    await reaper.drain();
    const ms = Date.now() - started;
    assert.ok(r.calls.every((c) => c.length <= 64), `batch sizes ${r.calls.map((c) => c.length).join(',')}`);
    assert.ok(r.maxInFlight() > 1 && r.maxInFlight() <= 8, `in flight at most ${r.maxInFlight()}`);
    assert.deepEqual(r.calls.flat().sort(), [...names].sort(), 'every name exactly once');
    // One at a time, 1000 requests of 20 ms would take 20 s.
    assert.ok(r.calls.length < 100, `${r.calls.length} requests, not one per Leave`);
    assert.ok(ms < 1000, `drained in ${ms} ms`);
  });

  test('backlog counts queued and running deletions; has() holds until the kernel answered', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => (release = res));
    const reaper = new VethReaper(async () => gate, { concurrency: 2, batchSize: 3 });
    assert.equal(reaper.backlog, 0);
    reaper.schedule(Array.from({ length: 20 }, (_, i) => `pn${i}`));
    assert.equal(reaper.backlog, 20);
    assert.ok(reaper.has('pn0') && reaper.has('pn19'), 'running and queued names both count');
    release();
    await reaper.drain();
    assert.equal(reaper.backlog, 0);
    assert.equal(reaper.has('pn0'), false);
  });

  test('a lone Leave is not held back to fill a batch, and its pair stays one request', async () => {
    const r = recorder(0);
    const reaper = new VethReaper(r.remove);
    reaper.schedule(['pnaaa', 'ptaaa']);
    assert.deepEqual(r.calls, [['pnaaa', 'ptaaa']], 'sent at once, together');
    await reaper.drain();
  });

  test('a refused batch is retried name by name; the reaper goes on', async () => {
    const removed: string[] = [];
    const reaper = new VethReaper(async (names) => {
      if (names.includes('pnbad')) throw new Error('Operation not permitted');
      removed.push(...names);
    });
    reaper.schedule(['pn1', 'pnbad', 'pn2']);
    await reaper.drain();
    assert.deepEqual(removed, ['pn1', 'pn2']);
    reaper.schedule(['pn3']);
    await reaper.drain();
    assert.deepEqual(removed, ['pn1', 'pn2', 'pn3']);
  });

  test('every drain waiting resolves; one asked while idle resolves at once', async () => {
    const r = recorder(5);
    const reaper = new VethReaper(r.remove, { concurrency: 1, batchSize: 1 });
    reaper.schedule(['pn1', 'pn2', 'pn3']);
    await Promise.all([reaper.drain(), reaper.drain(), reaper.drain()]);
    assert.equal(r.calls.length, 3);
    await reaper.drain();
  });
});
