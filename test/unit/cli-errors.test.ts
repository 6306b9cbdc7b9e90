/**
 * What a new user sees when `podnet serve` cannot start: one line saying what is wrong and what
 * to do, with a PodnetError behind it, never "unexpected error".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PermissionError, PodnetError, SettingsError } from '../../src/errors';
import { StaticFileSource } from '../../src/cluster/static-file-source';
import { acquireLock } from '../../src/lock';
import { tempDir } from './helpers';

const REPO = join(__dirname, '..', '..', '..');
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

function serve(env: Record<string, string>, uid?: number): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'podnet.js'), 'serve'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
    timeout: 10_000,
    ...(uid === undefined ? {} : { uid, gid: NOBODY }),
  });
  return { status: r.status, stderr: r.stderr };
}

describe('start-up errors a new user meets', () => {
  test('StaticFileSource: an invalid cluster file is a SettingsError naming the file, the entry and the fix', async () => {
    const t = tempDir();
    try {
      const file = join(t.dir, 'cluster.json');
      writeFileSync(file, '{"clusterCIDR": "10.244.0.0/16", "nodes": [{"name": "n1", "ip": "192.0.2.1", "subnet": "10.9.0.0/24"}]}');
      const err = await new StaticFileSource(file).list().then(() => assert.fail('should refuse'), (e: unknown) => e);
      assert.ok(err instanceof SettingsError, String(err));
      assert.equal(err.code, 'PODNET_ERR_SETTINGS');
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /nodes\[0\]/);
      assert.match(err.message, /fix it|remove it/);

      writeFileSync(file, '{ not json');
      const bad = await new StaticFileSource(file).list().then(() => assert.fail('should refuse'), (e: unknown) => e);
      assert.ok(bad instanceof SettingsError && bad.message.includes(file) && /not valid JSON/.test(bad.message), String(bad));

      // Unreadable (a directory where the file should be).
      const dirAsFile = join(t.dir, 'dir.json');
      mkdirSync(dirAsFile);
      const unreadable = await new StaticFileSource(dirAsFile).list().then(() => assert.fail('should refuse'), (e: unknown) => e);
      assert.ok(unreadable instanceof SettingsError && unreadable.message.includes(dirAsFile), String(unreadable));
    } finally {
      t.remove();
    }
  });

  test('podnet serve with an invalid cluster file: one line naming the file, no "unexpected error"', () => {
    const t = tempDir();
    try {
      const file = join(t.dir, 'cluster.json');
      writeFileSync(file, '{"clusterCIDR": "10.244.0.0/16", "nodes": [{"name": "n1", "ip": "not-an-ip", "subnet": "10.244.1.0/24"}]}');
      const r = serve({ PODNET_CLUSTER_FILE: file, PODNET_STATE_DIR: join(t.dir, 'state'), PODNET_SOCKET: join(t.dir, 'p.sock') });
      assert.equal(r.status, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /unexpected error/);
      assert.match(r.stderr, new RegExp(`^podnet: the cluster file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*is invalid: nodes\\[0\\]`));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    } finally {
      t.remove();
    }
  });

  test('acquireLock without the right to create or open: PermissionError saying to run as root', { skip: isRoot ? false : 'needs root to drop to nobody' }, () => {
    const t = tempDir();
    try {
      const rootOnly = join(t.dir, 'root-only');
      mkdirSync(rootOnly, { mode: 0o700 });
      chmodSync(t.dir, 0o755);
      const script = `
        const { acquireLock } = require(${JSON.stringify(join(REPO, 'dist', 'src', 'lock.js'))});
        for (const dir of [${JSON.stringify(rootOnly)}, ${JSON.stringify(join(rootOnly, 'sub'))}]) {
          try { acquireLock(dir); console.log('locked?'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }
        }`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', uid: NOBODY, gid: NOBODY, timeout: 10_000 });
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; code: string; message: string });
      assert.equal(lines.length, 2, r.stdout + r.stderr);
      for (const e of lines) {
        assert.equal(e.name, 'PermissionError');
        assert.equal(e.code, 'PODNET_ERR_PERMISSION');
        assert.match(e.message, /podnet must run as root/);
      }
      assert.match(lines[0]!.message, /open the lock file .*root-only\/podnet\.lock \(EACCES\)/);
      assert.match(lines[1]!.message, /create the state dir .*root-only\/sub \(EACCES\)/);
    } finally {
      t.remove();
    }
  });

  test('as root, acquireLock creates the state dir 0700', () => {
    const t = tempDir();
    try {
      const dir = join(t.dir, 'a', 'state');
      const lock = acquireLock(dir);
      lock.release();
      assert.ok(lock.path.startsWith(dir));
      assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
    } finally {
      t.remove();
    }
  });

  test('podnet serve as an ordinary user: one line saying to run as root, no EACCES dump', { skip: isRoot ? false : 'needs root to drop to nobody' }, () => {
    const t = tempDir();
    try {
      const state = join(t.dir, 'state');
      mkdirSync(state, { mode: 0o700 });
      chmodSync(t.dir, 0o755);
      const r = serve({ PODNET_STATE_DIR: state, PODNET_SOCKET: join(t.dir, 'p.sock'), PODNET_CLUSTER_FILE: join(t.dir, 'none.json') }, NOBODY);
      assert.equal(r.status, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /unexpected error/);
      assert.match(r.stderr, /^podnet: cannot open the lock file .*podnet\.lock \(EACCES\): podnet must run as root/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      t.remove();
    }
  });

  test('PermissionError is a PodnetError with its own code', () => {
    const e = new PermissionError('x');
    assert.ok(e instanceof PodnetError);
    assert.equal(e.code, 'PODNET_ERR_PERMISSION');
  });
});
