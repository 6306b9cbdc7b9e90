/**
 * Process helpers for the end-to-end test harness.
 *
 * Every host command is run from an argument vector (never a shell string).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface RunOptions {
  /** Text written to the command's standard input. */
  input?: string;
  /** A file whose content is streamed to the command's standard input (e.g. a tarball). */
  inputFile?: string;
  /** Kill the command (SIGKILL) after this many milliseconds. Default 60 s. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing on a non-zero exit / timeout / spawn error. */
  allowFail?: boolean;
  /** Full environment of the command (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** Working directory. */
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; 124 after a timeout, 127 if the program could not be started, 128+n for signal n. */
  code: number;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function tail(s: string, max = 4000): string {
  const t = s.trim();
  return t.length > max ? '...' + t.slice(t.length - max) : t;
}

/**
 * Run a command given as an argument vector and collect its output.
 * Throws an Error naming the command, its exit code and its stderr unless `allowFail`.
 */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('run: empty argv'));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const what = formatArgv(argv);
  return new Promise<RunResult>((resolve, reject) => {
    const stdinMode = opts.input !== undefined || opts.inputFile !== undefined ? 'pipe' : 'ignore';
    let child;
    try {
      child = spawn(file, args, {
        stdio: [stdinMode, 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      });
    } catch (err) {
      const e = err as Error;
      if (opts.allowFail) resolve({ stdout: '', stderr: e.message, code: 127 });
      else reject(new Error(`command failed to start: ${what}: ${e.message}`));
      return;
    }
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    let timedOut = false;
    let spawnError: Error | undefined;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => errb.push(d));
    child.on('error', (err) => {
      spawnError = err;
      // 'close' may not follow an ENOENT on every Node version: settle here too.
      if (child.pid === undefined) finish(null, null);
    });
    if (child.stdin) {
      child.stdin.on('error', () => {
        /* EPIPE when the command exits without reading all its input: reported by the exit code */
      });
      if (opts.inputFile !== undefined) {
        const rs = fs.createReadStream(opts.inputFile);
        rs.on('error', (err) => {
          spawnError = new Error(`cannot read input file ${opts.inputFile}: ${err.message}`);
          child.kill('SIGKILL');
        });
        rs.pipe(child.stdin);
      } else {
        child.stdin.end(opts.input ?? '');
      }
    }
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      let stderr = Buffer.concat(errb).toString('utf8');
      let rc: number;
      let reason: string;
      if (spawnError && child.pid === undefined) {
        rc = 127;
        reason = `could not start: ${spawnError.message}`;
        stderr += (stderr ? '\n' : '') + spawnError.message;
      } else if (timedOut) {
        rc = 124;
        reason = `timed out after ${timeoutMs} ms`;
        stderr += (stderr ? '\n' : '') + `[harness: timed out after ${timeoutMs} ms]`;
      } else if (signal) {
        rc = 128 + (SIGNALS[signal] ?? 0);
        reason = `killed by ${signal}`;
      } else {
        rc = code ?? 0;
        reason = `exit code ${rc}`;
      }
      if (spawnError && child.pid !== undefined) {
        stderr += (stderr ? '\n' : '') + spawnError.message;
        if (rc === 0) rc = 1;
      }
      if (rc !== 0 && !opts.allowFail) {
        reject(new Error(`command failed (${reason}): ${what}\nstderr: ${tail(stderr)}\nstdout: ${tail(stdout, 1500)}`));
      } else {
        resolve({ stdout, stderr, code: rc });
      }
    };
    child.on('close', finish);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown by a waitFor() condition to stop waiting at once (e.g. the awaited process died). */
export class WaitAbort extends Error {
  override name = 'WaitAbort';
}

/**
 * Poll `fn` until it resolves true. Exceptions thrown by `fn` count as "not yet" (the last one is
 * quoted in the timeout error), except a WaitAbort, which ends the wait with an error at once.
 * Polls quickly at first (every 25 ms), backing off to 250 ms.
 */
export async function waitFor(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  let delay = 25;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await fn()) return;
      lastErr = undefined;
    } catch (err) {
      if (err instanceof WaitAbort) throw new Error(`gave up waiting for ${what}: ${err.message}`);
      lastErr = err;
    }
    const elapsed = Date.now() - start;
    if (elapsed >= timeoutMs) {
      const detail = lastErr instanceof Error ? `: last error: ${lastErr.message}` : lastErr !== undefined ? `: last error: ${String(lastErr)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(Math.min(delay, timeoutMs - elapsed));
    delay = Math.min(delay * 2, 250);
  }
}
