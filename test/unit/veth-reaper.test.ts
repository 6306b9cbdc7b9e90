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
