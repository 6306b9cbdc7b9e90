/**
 * The plugin socket (PODNET_SOCKET): what podnet removes before listening (a stale socket only),
 * what it refuses (anything else), and the socket's mode from birth.
 */
import { describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { LockedError, PodnetError, SettingsError } from '../../src/errors';
import { listenOnSocket, prepareSocketPath, removeSocket } from '../../src/api/socket';
import { tempDir } from './helpers';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const t = tempDir();
    try {
      await fn(t.dir);
    } finally {
      t.remove();
    }
  };
}

/** A socket left behind by a process that died: bound by a child that is then SIGKILLed. */
async function staleSocket(path: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 5000 });
  assert.equal(r.signal, 'SIGKILL', String(r.stderr));
  assert.ok(lstatSync(path).isSocket(), 'the dead process left its socket');
}

function listening(path: string): Promise<Server> {
  const s = createServer((c) => c.end());
  return new Promise((resolve) => s.listen(path, () => resolve(s)));
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

async function refuses(path: string, kind: RegExp): Promise<SettingsError> {
  const err = await prepareSocketPath(path).then(
    () => assert.fail('should refuse'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SettingsError, `a SettingsError, got ${String(err)}`);
  assert.equal(err.code, 'PODNET_ERR_SETTINGS');
  assert.ok(err.message.includes(path), `names the path: ${err.message}`);
  assert.match(err.message, kind);
  assert.match(err.message, /move it away, or set PODNET_SOCKET/);
  return err;
}

describe('plugin socket path', () => {
  test('a regular file there is refused and left alone', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    writeFileSync(path, 'precious');
    await refuses(path, /is a regular file, not a socket/);
    assert.equal(readFileSync(path, 'utf8'), 'precious');
  }));

  test('a directory there is refused and left alone', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    mkdirSync(path);
    writeFileSync(join(path, 'x'), 'x');
    await refuses(path, /is a directory/);
    assert.ok(existsSync(join(path, 'x')));
  }));

  test('a symbolic link there is refused, whatever it points to, and neither it nor its target is touched', withDir(async (dir) => {
    const target = join(dir, 'target');
    writeFileSync(target, 'x');
    const link = join(dir, 'podnet.sock');
    symlinkSync(target, link);
    await refuses(link, /is a symbolic link/);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'x');

    const sockTarget = join(dir, 'real.sock');
    await staleSocket(sockTarget);
    const link2 = join(dir, 'podnet2.sock');
    symlinkSync(sockTarget, link2);
    await refuses(link2, /is a symbolic link/);
    assert.ok(lstatSync(sockTarget).isSocket(), 'the link target stays');
  }));

  test('a stale socket (nobody answers) is removed; nothing there is fine; the folder is made', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    await staleSocket(path);
    assert.ok(lstatSync(path).isSocket());
    await prepareSocketPath(path);
    assert.equal(existsSync(path), false);
    await prepareSocketPath(path);
    await prepareSocketPath(join(dir, 'sub', 'dir', 'podnet.sock'));
    assert.ok(lstatSync(join(dir, 'sub', 'dir')).isDirectory());
  }));

  test('a live socket is refused as locked and kept', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    const other = await listening(path);
    try {
      await assert.rejects(prepareSocketPath(path), (e: unknown) => e instanceof LockedError && /served by another running plugin/.test(e.message));
      assert.ok(lstatSync(path).isSocket());
    } finally {
      await close(other);
    }
  }));

  test('listenOnSocket makes a 0600 socket even under umask 0, and puts the umask back', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    await staleSocket(path);
    const before = process.umask(0);
    const server = createServer((c) => c.end());
    try {
      await listenOnSocket(server, path);
      assert.equal(process.umask(), 0, 'umask restored');
      const st = lstatSync(path);
      assert.ok(st.isSocket());
      assert.equal((st.mode & 0o777).toString(8), '600');
    } finally {
      process.umask(before);
      await close(server);
    }
  }));

  test('listenOnSocket refuses a file in the way without listening', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    writeFileSync(path, 'x');
    const server = createServer();
    await assert.rejects(listenOnSocket(server, path), (e: unknown) => e instanceof PodnetError && e.code === 'PODNET_ERR_SETTINGS');
    assert.equal(server.listening, false);
    assert.equal(readFileSync(path, 'utf8'), 'x');
  }));

  test('removeSocket removes a socket, never a file put in its place', withDir(async (dir) => {
    const path = join(dir, 'podnet.sock');
    writeFileSync(path, 'x');
    removeSocket(path);
    assert.equal(readFileSync(path, 'utf8'), 'x');
    const sock = join(dir, 'other.sock');
    await staleSocket(sock);
    removeSocket(sock);
    assert.equal(existsSync(sock), false);
    removeSocket(join(dir, 'absent.sock'));
  }));
});
