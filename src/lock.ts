import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LockedError, isPermissionDenied, permissionError } from './errors';

export interface InstanceLock {
  readonly path: string;
  release(): void;
}

/**
 * One podnet per state dir and host: an flock(2) on <stateDir>/podnet.lock held for the life of
 * the process. Node has no flock, so flock(1) takes it on our own inherited descriptor; the lock
 * belongs to the open file description, so it stays ours after flock(1) exits and is released by
 * the kernel when this process dies, even by kill -9. The state dir is created (0700) if missing;
 * not being allowed to create or open either (not root) is a PermissionError saying to run as root.
 */
export function acquireLock(stateDir: string): InstanceLock {
  const path = join(stateDir, 'podnet.lock');
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    if (isPermissionDenied(err)) throw permissionError(`create the state dir ${stateDir}`, err);
    throw err;
  }
  let fd: number;
  try {
    fd = openSync(path, 'a+', 0o600);
  } catch (err) {
    if (isPermissionDenied(err)) throw permissionError(`open the lock file ${path}`, err);
    throw err;
  }
  const r = spawnSync('flock', ['--nonblock', '--conflict-exit-code', '75', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.error) {
    closeSync(fd);
    throw new LockedError(`cannot lock ${path}: flock(1) failed to run (${r.error.message}); install util-linux`);
  }
  if (r.status === 75) {
    const holder = readFileSync(path, 'utf8').trim();
    closeSync(fd);
    throw new LockedError(
      `another podnet is already running with state dir ${stateDir}${holder ? ` (pid ${holder})` : ''}: stop it first, or use another PODNET_STATE_DIR`,
    );
  }
  if (r.status !== 0) {
    closeSync(fd);
    throw new LockedError(`cannot lock ${path}: ${r.stderr.toString().trim() || `flock exited ${r.status}`}`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return {
    path,
    release: () => closeSync(fd),
  };
}
