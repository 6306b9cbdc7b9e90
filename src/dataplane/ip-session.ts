import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import createDebug from 'debug';
import { CommandFailedError } from '../errors';

const debug = createDebug('podnet:ip');

/** A line of a request that `ip` refused, with the message it printed for it. */
export interface LineFailure {
  readonly line: string;
  readonly message: string;
}

interface Pending {
  readonly lines: readonly string[];
  /** `ip`'s line number (1-based, counted over the process's whole input) of lines[0]. */
  readonly first: number;
  /** The line number of the sentinel that closes this request. */
  readonly sentinel: number;
  readonly failures: LineFailure[];
  readonly resolve: (f: LineFailure[]) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Always fails (no interface name is longer than 15 bytes), so its "Command failed -:N" on
 * stderr closes a request: every message before it belongs to that request's lines, because
 * stderr is one ordered stream and `ip -batch` runs its lines in order.
 */
const SENTINEL = 'link show dev podnet-end-of-request';
const FAILED = /^Command failed -:(\d+)$/;

/**
 * One long-lived `ip -force -batch -` process. Starting a program costs 6-10 ms on small VMs
 * (measured here: node's spawn of /bin/true), several times the netlink work of a Join; a
 * Join or Leave on a per-call `ip` missed the 5 ms budget on that alone. Requests are written
 * in order and answered in order; the process is restarted on the next request if it dies.
 */
export class IpSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private written = 0;
  private readonly queue: Pending[] = [];
  private partial = '';
  private messages: string[] = [];

  constructor(private readonly timeoutMs = 20_000) {}

  /**
   * Runs the lines; resolves with the lines `ip` refused (all lines run, like `ip -force -batch`).
   * Rejects only when `ip` itself cannot run or does not answer.
   */
  exec(lines: readonly string[]): Promise<LineFailure[]> {
    for (const l of lines) {
      // One line is one command: a newline would smuggle in another.
      if (/[\n\r]/.test(l)) return Promise.reject(new Error(`ip session: a command line contains a newline: ${JSON.stringify(l)}`));
    }
    const child = this.process();
    return new Promise<LineFailure[]>((resolve, reject) => {
      const first = this.written + 1;
      this.written += lines.length + 1;
      const timer = setTimeout(() => this.fail(new CommandFailedError(['ip', '-batch', '-'], null, `no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.queue.push({ lines, first, sentinel: this.written, failures: [], resolve, reject, timer });
      child.stdin.write([...lines, SENTINEL].join('\n') + '\n');
    });
  }

  /** The pid of the running `ip`, if any (tests, diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the process (the plugin is stopping); requests still queued are rejected. */
  close(): void {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.stdin.end();
    this.rejectAll(new CommandFailedError(['ip', '-batch', '-'], null, 'the ip session was closed'));
  }

  private process(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.written = 0;
    this.partial = '';
    this.messages = [];
    child.stdout.resume(); // only mutations are sent: stdout stays empty, but must never fill up
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => this.onStderr(text));
    child.stdin.on('error', () => undefined); // reported through 'exit' below
    // An idle session must not keep a finished program alive; a request's timer keeps the loop up.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      debug('ip session ended: %s', why);
      this.rejectAll(new CommandFailedError(['ip', '-force', '-batch', '-'], null, `ip ended (${why}) ${this.messages.join(' / ')}`.trim()));
    };
    child.on('error', (e) => gone(e.message));
    child.on('exit', (code, signal) => gone(signal ?? `exit ${code}`));
    debug('ip session started (pid %d)', child.pid);
    return child;
  }

  private onStderr(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const l of parts) {
      const m = FAILED.exec(l);
      if (!m) {
        if (l.trim()) this.messages.push(l.trim());
        continue;
      }
      const n = Number(m[1]);
      const message = this.messages.join(' / ');
      this.messages = [];
      const p = this.queue[0];
      if (!p) continue;
      if (n === p.sentinel) {
        this.queue.shift();
        clearTimeout(p.timer);
        p.resolve(p.failures);
      } else if (n >= p.first && n < p.sentinel) {
        p.failures.push({ line: p.lines[n - p.first] ?? '', message });
      }
    }
  }

  private fail(err: Error): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
    this.rejectAll(err);
  }

  private rejectAll(err: Error): void {
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
