/*
 * The long-lived `ip -batch` session, against the real `ip` with read-only commands (nothing
 * here changes the host): answers in order, refusals attributed to the right line, recovery.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSession } from '../../src/dataplane/ip-session';

describe('IpSession', () => {
  let s: IpSession | undefined;
  afterEach(() => s?.close());

  test('lines that succeed give no failures; one process serves many requests', async () => {
    s = new IpSession();
    assert.deepEqual(await s.exec(['link show dev lo', 'addr show dev lo']), []);
    const pid = s.pid;
    assert.ok(pid);
    assert.deepEqual(await s.exec(['link show dev lo']), []);
    assert.equal(s.pid, pid, 'the same ip process');
  });

  test('a refused line is reported with its own message; the others run', async () => {
    s = new IpSession();
    const f = await s.exec(['link show dev lo', 'link show dev pnnosuch0', 'link show dev lo', 'link show dev pnnosuch1']);
    assert.deepEqual(f.map((x) => x.line), ['link show dev pnnosuch0', 'link show dev pnnosuch1']);
    assert.match(f[0]?.message ?? '', /pnnosuch0/);
    assert.match(f[1]?.message ?? '', /pnnosuch1/);
    assert.doesNotMatch(f[1]?.message ?? '', /pnnosuch0/);
  });

  test('requests written together are answered in order, each with its own failures', async () => {
    s = new IpSession();
    const session = s;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => session.exec(i % 2 ? [`link show dev pnmiss${i}`] : ['link show dev lo'])),
    );
    answers.forEach((f, i) => {
      if (i % 2) assert.equal(f[0]?.line, `link show dev pnmiss${i}`);
      else assert.deepEqual(f, []);
    });
  });

  test('a newline inside a line is refused (it would be a second command)', async () => {
    s = new IpSession();
    await assert.rejects(s.exec(['link show dev lo\nlink del lo']), /contains a newline/);
  });

  test('if ip dies, pending requests fail and the next request starts a new process', async () => {
    s = new IpSession();
    await s.exec(['link show dev lo']);
    const first = s.pid as number;
    process.kill(first, 'SIGKILL');
    // The kill may land before or after this request is answered: either way the session recovers.
    await s.exec(['link show dev lo']).catch(() => undefined);
    assert.deepEqual(await s.exec(['link show dev lo']), []);
    assert.notEqual(s.pid, first);
  });

  test('the process is replaced after recycleAfter requests (ip\'s name cache only grows)', async () => {
    s = new IpSession(20_000, 2);
    await s.exec(['link show dev lo']);
    const first = s.pid;
    await s.exec(['link show dev lo']);
    assert.equal(s.pid, undefined, 'retired after its second request');
    await s.exec(['link show dev lo']);
    assert.ok(s.pid !== undefined && s.pid !== first);
  });

  test('close rejects what is still queued and lets the program exit', async () => {
    s = new IpSession();
    const p = s.exec(['link show dev lo']);
    s.close();
    await assert.rejects(p, /closed/);
    assert.equal(s.pid, undefined);
  });
});
