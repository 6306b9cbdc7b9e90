import { lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { LockedError, SettingsError, isPermissionDenied, permissionError } from '../errors';

/** The socket's permissions from the moment bind(2) creates it: only root (its owner) talks to the plugin. */
export const SOCKET_MODE = 0o600;
/** The umask that makes bind(2) create the socket with SOCKET_MODE. */
const SOCKET_UMASK = 0o777 & ~SOCKET_MODE;

/** True when a server answers on the Unix socket at `path`. */
export function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SettingsError(`cannot check the plugin socket path ${path} (PODNET_SOCKET): ${(err as Error).message}`);
  }
}

function kindOf(st: Stats): string {
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a socket';
}

/**
 * Makes `path` free for the plugin's socket. Nothing there: fine. A socket nobody answers on (a
 * crashed run's): removed. A live socket: another plugin serves it, refused. Anything else (a
 * file, a directory, a symbolic link, even one to a socket) is never removed: refused, naming it.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    if (isPermissionDenied(err)) throw permissionError(`create the socket's folder ${dirname(path)}`, err);
    throw err;
  }
  const st = lstatOrUndefined(path);
  if (!st) return;
  if (!st.isSocket()) {
    throw new SettingsError(
      `the plugin socket path ${path} (PODNET_SOCKET) is ${kindOf(st)}, not a socket: podnet does not remove it; ` +
        'move it away, or set PODNET_SOCKET to another path',
    );
  }
  if (await socketIsLive(path)) {
    throw new LockedError(`${path} is served by another running plugin: stop it first, or set PODNET_SOCKET`);
  }
  try {
    unlinkSync(path); // stale, from a run that crashed
  } catch (err) {
    if (isPermissionDenied(err)) throw permissionError(`remove the stale plugin socket ${path}`, err);
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SettingsError(`cannot remove the stale plugin socket ${path}: ${(err as Error).message}`);
    }
  }
}

/**
 * Prepares `path` (see prepareSocketPath) and makes `server` listen on it. The socket is created
 * with mode 0600 by bind(2) itself (the process umask is 0177 around listen), so there is no moment
 * when others may connect, and no chmod that a symbolic link put in its place could redirect.
 */
export async function listenOnSocket(server: Server, path: string): Promise<void> {
  await prepareSocketPath(path);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(isPermissionDenied(err) ? permissionError(`listen on ${path}`, err) : err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // bind(2) runs synchronously inside listen() for a Unix socket (outside cluster workers), so
    // the umask is back to the process's own before any other file is created.
    const previous = process.umask(SOCKET_UMASK);
    try {
      server.listen(path);
    } finally {
      process.umask(previous);
    }
  });
  const st = lstatOrUndefined(path);
  if (!st?.isSocket() || (st.mode & 0o777) !== SOCKET_MODE) {
    server.close();
    throw new SettingsError(
      `the plugin socket ${path} is not the 0600 socket podnet just made (${st ? `${kindOf(st)}, mode ${(st.mode & 0o777).toString(8)}` : 'gone'}): ` +
        'something else writes to its directory; give podnet a directory of its own with PODNET_SOCKET',
    );
  }
}

/** Removes the plugin's socket at stop if it is still a socket (never a file put in its place). */
export function removeSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    /* already gone */
  }
}
