import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, waitFor, type RunResult } from '../harness/exec';
import { callPlugin } from './plugin-client';

const REPO = join(__dirname, '..', '..', '..');

/** A throwaway network namespace; everything in it dies with it. */
export class TestNetns {
  private constructor(readonly name: string) {}

  static async create(name: string): Promise<TestNetns> {
    await run(['ip', 'netns', 'del', name], { allowFail: true });
    await run(['ip', 'netns', 'add', name]);
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return new TestNetns(name);
  }

  exec(argv: readonly string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }

  async ip(args: readonly string[]): Promise<string> {
    return (await run(['ip', '-n', this.name, ...args])).stdout;
  }

  async ipJson<T>(args: readonly string[]): Promise<T[]> {
    const { stdout, code } = await run(['ip', '-j', '-n', this.name, ...args], { allowFail: true });
    return code === 0 && stdout.trim() ? (JSON.parse(stdout) as T[]) : [];
  }

  /** Starts a long-running program inside; killed by destroy(). */
  spawn(argv: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...argv], { stdio: 'ignore', detached: true });
    child.unref();
    return child;
  }

  async destroy(): Promise<void> {
    const { stdout } = await run(['ip', 'netns', 'pids', this.name], { allowFail: true });
    for (const pid of stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await run(['ip', 'netns', 'del', this.name], { allowFail: true });
  }
}

/** The real podnet plugin process, running inside a test namespace with its own state and socket. */
export class NetnsPlugin {
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;

  constructor(readonly netns: TestNetns, private readonly env: Record<string, string> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'podnet-it-'));
    this.socket = join(this.dir, 'podnet.sock');
    this.stateDir = join(this.dir, 'state');
    this.logFile = join(this.dir, 'podnet.log');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the plugin; `extra` adds environment for this run only (e.g. a crash point). */
  async start(extra: Record<string, string> = {}): Promise<void> {
    const log = openSync(this.logFile, 'a');
    this.child = spawn('ip', ['netns', 'exec', this.netns.name, process.execPath, join(REPO, 'bin', 'podnet.js'), 'serve'], {
      stdio: ['ignore', log, log],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', DEBUG: 'podnet:*', PODNET_SOCKET: this.socket, PODNET_STATE_DIR: this.stateDir, ...this.env, ...extra },
    });
    closeSync(log);
    const child = this.child;
    await waitFor(async () => {
      if (child.exitCode !== null) return true;
      // A socket file alone may be the stale one of a killed run: wait for an answer.
      return existsSync(this.socket) && (await callPlugin(this.socket, 'Plugin.Activate', undefined).then(() => true, () => false));
    }, 10_000, 'podnet answering on its socket');
    if (child.exitCode !== null) throw new Error(`podnet exited (${child.exitCode}):\n${this.logs()}`);
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = undefined;
      return child?.exitCode ?? null;
    }
    const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await done;
    this.child = undefined;
    return code;
  }

  logs(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
