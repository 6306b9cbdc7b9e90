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
 * stderr is one ordered stream and `ip -batch` runs its lines in order. Not a malformed
 * argument: ip exits on those, batch or not.
 */
const SENTINEL = 'link set dev podnet-end-of-request up';
const FAILED = /^Command failed -:(\d+)$/;

/**
 * What `ip` says when a name it remembers points at a link that is gone: ip keeps a
 * name-to-index cache for its whole life, so a link another program deleted and made again
 * (kbr0 after `docker network rm`, or by an administrator) is missed by a long-lived ip.
 * ("Cannot find device" is a fresh lookup that found nothing: a real answer.)
 */
const STALE_NAME = /No such device|Device not found/;

/** One `ip -force -batch -` process and the requests written to it. */
class IpProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private written = 0;
  private readonly queue: Pending[] = [];
  private partial = '';
  private messages: string[] = [];
  private ended = false;
  /** Requests answered so far. */
  served = 0;

  constructor(private readonly timeoutMs: number) {
    const child = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.resume(); // only mutations are sent: stdout stays empty, but must never fill up
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => this.onStderr(text));
    child.stdin.on('error', () => undefined); // reported through 'exit' below
    // An idle session must not keep a finished program alive; a request's timer keeps the loop up.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
    const gone = (why: string): void => {
      this.ended = true;
      debug('ip %d ended: %s', child.pid, why);
      this.rejectAll(new CommandFailedError(['ip', '-force', '-batch', '-'], null, `ip ended (${why}) ${this.messages.join(' / ')}`.trim()));
    };
    child.on('error', (e) => gone(e.message));
    child.on('exit', (code, signal) => gone(signal ?? `exit ${code}`));
    debug('ip %d started', child.pid);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** False once the process has exited or been told to finish. */
  get usable(): boolean {
    return !this.ended;
  }

  exec(lines: readonly string[]): Promise<LineFailure[]> {
    return new Promise<LineFailure[]>((resolve, reject) => {
      const first = this.written + 1;
      this.written += lines.length + 1;
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        this.rejectAll(new CommandFailedError(['ip', '-batch', '-'], null, `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.queue.push({ lines, first, sentinel: this.written, failures: [], resolve, reject, timer });
      this.child.stdin.write([...lines, SENTINEL].join('\n') + '\n');
    });
  }

  /** No more requests: the process answers those written already, then exits. */
  finish(): void {
    this.ended = true;
    this.child.stdin.end();
  }

  /** Ends now; requests still queued are rejected with `err`. */
  close(err: Error): void {
    this.finish();
    this.rejectAll(err);
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
        this.served++;
        p.resolve(p.failures);
      } else if (n >= p.first && n < p.sentinel) {
        p.failures.push({ line: p.lines[n - p.first] ?? '', message });
      }
    }
  }

  private rejectAll(err: Error): void {
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

/**
 * A long-lived `ip -force -batch -` process. Starting a program costs 6-10 ms on small VMs
 * (measured here: node's spawn of /bin/true), several times the netlink work of a Join; a
 * Join or Leave on a per-call `ip` missed the 5 ms budget on that alone. Requests are written
 * in order and answered in order. The process is replaced when it dies, every `recycleAfter`
 * requests (ip's name cache only grows), and when a refusal looks like a stale name, in which
 * case the refused lines are run once more in the new process.
 */
export class IpSession {
  private current: IpProcess | undefined;

  constructor(
    private readonly timeoutMs = 20_000,
    private readonly recycleAfter = 1000,
  ) {}

  /**
   * Runs the lines; resolves with the lines `ip` refused (all lines run, like `ip -force -batch`).
   * Rejects only when `ip` itself cannot run or does not answer.
   */
  async exec(lines: readonly string[]): Promise<LineFailure[]> {
    for (const l of lines) {
      // One line is one command: a newline would smuggle in another.
      if (/[\n\r]/.test(l)) throw new Error(`ip session: a command line contains a newline: ${JSON.stringify(l)}`);
    }
    const proc = this.process();
    const failures = await proc.exec(lines);
    if (proc.served >= this.recycleAfter) this.retire(proc);
    const stale = failures.filter((f) => STALE_NAME.test(f.message));
    if (stale.length === 0) return failures;
    debug('ip %d refused %d line(s) as if a name were stale: retrying them in a new ip', proc.pid, stale.length);
    this.retire(proc);
    const again = await this.process().exec(stale.map((f) => f.line));
    return [...failures.filter((f) => !stale.includes(f)), ...again];
  }

  /** The pid of the running `ip`, if any (tests, diagnostics). */
  get pid(): number | undefined {
    return this.current?.usable ? this.current.pid : undefined;
  }

  /** Ends the process (the plugin is stopping); requests still queued are rejected. */
  close(): void {
    this.current?.close(new CommandFailedError(['ip', '-batch', '-'], null, 'the ip session was closed'));
    this.current = undefined;
  }

  private process(): IpProcess {
    if (!this.current?.usable) this.current = new IpProcess(this.timeoutMs);
    return this.current;
  }

  /** The next request goes to a new process; this one answers what it has, then exits. */
  private retire(proc: IpProcess): void {
    proc.finish();
    if (this.current === proc) this.current = undefined;
  }
}
