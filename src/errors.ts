/**
 * One error envelope for everything podnet reports. Every message says what was wrong and what
 * to do; the code is stable so that scripts and tests can match on it.
 */
export type ErrorCode =
  | 'PODNET_ERR_INVALID_REQUEST'
  | 'PODNET_ERR_INVALID_OPTION'
  | 'PODNET_ERR_NOT_FOUND'
  | 'PODNET_ERR_CONFLICT'
  | 'PODNET_ERR_EXHAUSTED'
  | 'PODNET_ERR_UNSUPPORTED'
  | 'PODNET_ERR_SETTINGS'
  | 'PODNET_ERR_COMMAND_FAILED'
  | 'PODNET_ERR_LOCKED'
  | 'PODNET_ERR_PERMISSION'
  | 'PODNET_ERR_INTERNAL';

export class PodnetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The caller sent something malformed: bad JSON, wrong types, a non-CIDR pool. */
export class InvalidRequestError extends PodnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PODNET_ERR_INVALID_REQUEST', message, options);
  }
}

/** A user-supplied option (-o, --subnet, --gateway, --ip ...) that podnet cannot honour. */
export class InvalidOptionError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_INVALID_OPTION', message);
  }
}

export class NotFoundError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_NOT_FOUND', message);
  }
}

/** Something already holds what was asked for: an address, a host port, the cluster CIDR. */
export class ConflictError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_CONFLICT', message);
  }
}

export class ExhaustedError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_EXHAUSTED', message);
  }
}

export class UnsupportedError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_UNSUPPORTED', message);
  }
}

export class SettingsError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_SETTINGS', message);
  }
}

export class LockedError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_LOCKED', message);
  }
}

/** podnet lacks a privilege it needs: in practice, it was not run as root. */
export class PermissionError extends PodnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PODNET_ERR_PERMISSION', message, options);
  }
}

/** EACCES or EPERM: the errors that mean "not allowed", as opposed to "not there" or "broken". */
export function isPermissionDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * The PermissionError for a denied `what` (e.g. "create the state dir /var/lib/podnet"): says to
 * run as root when podnet is not root, else names the errno (an LSM or a read-only mount).
 */
export function permissionError(what: string, err: unknown): PermissionError {
  const notRoot = typeof process.getuid === 'function' && process.getuid() !== 0;
  const cause = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
  return new PermissionError(
    notRoot
      ? `cannot ${what} (${cause}): podnet must run as root; run it with sudo, or as a root service (contrib/podnet.service)`
      : `cannot ${what} (${cause}) although running as root: check the path's permissions, mount options and security policy (AppArmor/SELinux)`,
    { cause: err },
  );
}

/** A host program failed: carries the argv, exit code and stderr so the log says exactly what. */
export class CommandFailedError extends PodnetError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string, options?: { cause?: unknown }) {
    const detail = stderr.trim().split('\n').slice(-3).join(' / ');
    super('PODNET_ERR_COMMAND_FAILED', `host command failed (exit ${exitCode ?? 'signal'}): ${argv.join(' ')}${detail ? `: ${detail}` : ''}`, options);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
