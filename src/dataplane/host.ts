import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import createDebug from 'debug';
import { CommandFailedError } from '../errors';
import { IpSession } from './ip-session';

const debug = createDebug('podnet:host');

export interface RunOptions {
  /** Text written to the program's stdin (batch files for ip, iptables-restore). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The one door through which podnet changes the host: programs run from argument arrays, never
 * through a shell, with a timeout, and a failure carries argv, exit code and stderr.
 */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('run: empty argv'));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 20_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new CommandFailedError(argv, null, e.message, { cause: e })));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      debug('%s -> %s (%dms)', argv.join(' '), code, Date.now() - started);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandFailedError(argv, code, stderr || stdout));
    });
    child.stdin.on('error', () => undefined); // the program may exit before reading all input
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Two long-lived `ip` processes: deletions, which the kernel makes slow, go to their own so that a
 * Join never waits behind them.
 */
const ipSessions = { main: new IpSession(), teardown: new IpSession() };

export interface IpBatchOptions {
  /** Messages of refused lines that are fine (e.g. /Cannot find device/ when deleting). */
  readonly tolerate?: RegExp;
  /** 'teardown' for background deletions. Default 'main'. */
  readonly lane?: keyof typeof ipSessions;
}

/** An `ip` command as argument tokens. */
export type IpCommand = readonly string[];

/**
 * A token `ip -batch` reads as exactly one argument: no whitespace (it splits on it), no quote
 * or backslash (it interprets them), no control character, not empty. Names, addresses and MACs
 * were validated at the edge already; this is the second line of defence.
 */
const SAFE_TOKEN = /^[^\s"'\\#\x00-\x1f\x7f]+$/;

/** Joins tokens into one batch line, refusing any token that would not stay one argument. */
export function ipLine(tokens: IpCommand): string {
  for (const t of tokens) {
    if (!SAFE_TOKEN.test(t)) throw new Error(`ip command refused: token ${JSON.stringify(t)} contains whitespace, a quote or a control character`);
  }
  return tokens.join(' ');
}

/**
 * Runs `ip` commands, each an argument array, in one of podnet's long-lived `ip -batch`
 * processes. All run; the first refused one is thrown (unless tolerated), naming the command.
 */
export async function ipBatch(commands: readonly IpCommand[], opts: IpBatchOptions = {}): Promise<void> {
  const lines = commands.map(ipLine);
  const failures = await ipSessions[opts.lane ?? 'main'].exec(lines);
  const bad = failures.find((f) => !opts.tolerate?.test(f.message));
  if (bad) throw new CommandFailedError(['ip', ...bad.line.split(' ')], 1, bad.message);
}

/** Ends the `ip` sessions (shutdown); the next ipBatch starts new ones. */
export function closeIpSessions(): void {
  for (const s of Object.values(ipSessions)) s.close();
}

/** JSON output of `ip -j ...`, or [] when the object does not exist. */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  try {
    const { stdout } = await run(['ip', '-j', ...args]);
    return stdout.trim() === '' ? [] : (JSON.parse(stdout) as T[]);
  } catch (err) {
    if (err instanceof CommandFailedError && /does not exist|Cannot find device/.test(err.stderr)) return [];
    throw err;
  }
}

/**
 * Root of the proc tree whose sysctls podnet writes. /proc/sys/net follows the writer's network
 * namespace, so this is right in test namespaces too; the managed plugin points it at the host's.
 */
let procRoot = '/proc';
export function setProcRoot(root: string): void {
  procRoot = root;
}

/** Path segments, not a dotted key: interface names may contain dots. */
export async function writeSysctl(segments: readonly string[], value: string): Promise<void> {
  const path = `${procRoot}/sys/${segments.join('/')}`;
  debug('sysctl %s=%s', path, value);
  await writeFile(path, value);
}

export async function readSysctl(segments: readonly string[]): Promise<string> {
  return (await readFile(`${procRoot}/sys/${segments.join('/')}`, 'utf8')).trim();
}
