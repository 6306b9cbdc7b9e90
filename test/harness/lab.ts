/**
 * A lab of test hosts on one machine, safe by construction.
 *
 * Everything lives in network namespaces that the lab creates; their only links lead to other
 * namespaces of the same lab. The root namespace's links, addresses and routes are never touched.
 *
 *   ${id}-sw    switch: Linux bridge br0, one veth port per host/client/router
 *   ${id}-out   "outside" router: 192.168.200.1/24 on eth0, 203.0.113.1/32 on lo
 *   ${id}-NAME  test host (192.168.200.(10+i), i = 1, 2, ... in order of addHost) or
 *               client (192.168.200.(100+i), i = 1, 2, ... in order of addClient)
 *
 * `${id}` is `${prefix}-${pid}-${4 hex}`: the pid of the owning process lets cleanupStale() tell a
 * crashed run's leftovers from a lab of another test file running at the same time.
 *
 * A test host is a "host that looks like a real host" (see shared/HOST-LAB.md): its netns plus a
 * private mount namespace held by a long-lived holder process, with a fresh sysfs (so
 * /sys/class/net shows the host's own links), a fresh tmpfs over /run and per-host folders bound
 * over /etc/docker, /etc/podnet, /etc/openvswitch, /var/lib/{openvswitch,docker,containerd,podnet}
 * and /var/log/openvswitch. containerd, dockerd and podnet run inside with their default paths.
 * With `addHost(name, { ovs: true })` the host also runs its own Open vSwitch (ovsdb-server +
 * ovs-vswitchd, default paths) and, as an administrator prepares a userspace-datapath node, has
 * its underlay NIC eth0 in the OVS bridge brphy with the underlay address on brphy (./ovs.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { formatArgv, run, sleep, waitFor, WaitAbort, type RunOptions, type RunResult } from './exec';
import {
  prepareUnderlayOnOvs,
  startOvs,
  UNDERLAY_BRIDGE,
  UNDERLAY_NIC,
  WRITE_FILE_SCRIPT,
  type OvsProcesses,
  type PrepareUnderlayOptions,
  type StartOvsOptions,
} from './ovs';

// ---------------------------------------------------------------------------------------------
// Constants

export const UNDERLAY_PREFIX = '192.168.200';
export const UNDERLAY_CIDR = `${UNDERLAY_PREFIX}.0/24`;
export const UNDERLAY_PREFIXLEN = 24;
/** The outside router's address on the underlay (the hosts' default gateway). */
export const OUTSIDE_IP = `${UNDERLAY_PREFIX}.1`;
/** A "public" address on the outside router (on its lo), for egress / masquerade checks. */
export const OUTSIDE_PUBLIC_IP = '203.0.113.1';
/** Root folder of all labs' files (one folder per lab). */
export const LAB_ROOT = '/tmp/podnet-lab';

/** Folders of a test host that are private to it (bind-mounted from the host's own folder). */
export const HOST_PRIVATE_DIRS = [
  '/etc/docker',
  '/etc/podnet',
  '/etc/openvswitch',
  '/var/lib/openvswitch',
  '/var/log/openvswitch',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/var/lib/podnet',
] as const;

/** The docker CLI that matches the Debian daemon if present, else whatever `docker` is on PATH. */
export const DOCKER_BIN = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

const SWITCH_BRIDGE = 'br0';
const PODNET_SOCKET = '/run/docker/plugins/podnet.sock';

/** The repository root, found from this file's location (works from dist/ and from test/). */
export const REPO_ROOT: string = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const name = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: unknown }).name;
        if (name === 'podnet') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the podnet repository above ${start}`);
    dir = up;
  }
}

// ---------------------------------------------------------------------------------------------
// Process helpers (synchronous where the exit handler needs them)

/** Parent pid and state of every process, from /proc. */
function processTable(): Map<number, { ppid: number; state: string }> {
  const table = new Map<number, { ppid: number; state: string }>();
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(ent), { state: rest[0] ?? '?', ppid: Number(rest[1]) });
    } catch {
      /* gone */
    }
  }
  return table;
}

/** True if the process exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function pidStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The pids whose network namespace is `ns` (`ip netns pids`), synchronously. */
function netnsPidsSync(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** The given pids and all their descendants (alive, not zombies), never pid 1 or ourselves. */
function withDescendants(roots: Iterable<number>): number[] {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of table) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const pid = stack.pop() as number;
    if (out.has(pid) || pid <= 1 || pid === process.pid) continue;
    out.add(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return [...out].filter((p) => {
    const st = table.get(p)?.state;
    return st !== undefined && st !== 'Z' && st !== 'X';
  });
}

function killQuiet(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 1 || pid === process.pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * SIGKILL every process of network namespace `ns`, the extra pids, and all their descendants
 * (container processes are descendants of containerd shims, which live in the host's netns),
 * repeating until none is left (or 5 s passed). Returns the pids still alive (normally none).
 */
function killNetnsSync(ns: string | undefined, extra: Iterable<number>): number[] {
  const extraList = [...extra];
  const deadline = Date.now() + 5000;
  let left: number[] = [];
  for (;;) {
    const roots = [...(ns ? netnsPidsSync(ns) : []), ...extraList.filter(pidAlive)];
    left = withDescendants(roots);
    if (!left.length || Date.now() > deadline) return left;
    for (const pid of left) killQuiet(pid, 'SIGKILL');
    sleepSync(20);
  }
}

async function killNetns(ns: string | undefined, extra: Iterable<number>): Promise<number[]> {
  const extraList = [...extra];
  const deadline = Date.now() + 5000;
  for (;;) {
    const pidsR = ns ? await run(['ip', 'netns', 'pids', ns], { allowFail: true, timeoutMs: 10_000 }) : undefined;
    const nsPids = pidsR && pidsR.code === 0 ? pidsR.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number) : [];
    const left = withDescendants([...nsPids, ...extraList.filter(pidAlive)]);
    if (!left.length || Date.now() > deadline) return left;
    for (const pid of left) killQuiet(pid, 'SIGKILL');
    await sleep(20);
  }
}

function listNetnsSync(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Names of all network namespaces (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Mount points (in our mount namespace) at or below `dir`. */
function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  try {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
      .filter((m) => m === dir || m.startsWith(prefix));
  } catch {
    return [];
  }
}

/** rm -rf of a folder under LAB_ROOT, refusing anything else or anything with a mount below it. */
function removeLabDir(dir: string): void {
  const resolved = path.resolve(dir);
  if (!resolved.startsWith(LAB_ROOT + '/')) throw new Error(`refusing to remove ${dir}: not under ${LAB_ROOT}`);
  const mounts = mountsUnder(resolved);
  if (mounts.length) throw new Error(`refusing to remove ${dir}: mounts below it: ${mounts.join(', ')}`);
  fs.rmSync(resolved, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Remove the (empty) cgroup folders of a host's containers, which a killed dockerd/containerd
 * leaves behind in every cgroup v1 hierarchy (/sys/fs/cgroup/<controller>/docker/<id>). The ids come
 * from the host's own /var/lib/docker/containers, so other daemons' containers are never touched;
 * rmdir of a cgroup that still has tasks fails and is ignored.
 */
function removeContainerCgroupsSync(varLibDocker: string): void {
  let ids: string[] = [];
  try {
    ids = fs.readdirSync(path.join(varLibDocker, 'containers')).filter((id) => /^[0-9a-f]{64}$/.test(id));
  } catch {
    return;
  }
  if (!ids.length) return;
  const roots: string[] = [];
  try {
    for (const c of fs.readdirSync('/sys/fs/cgroup')) roots.push(path.join('/sys/fs/cgroup', c));
  } catch {
    return;
  }
  roots.push('/sys/fs/cgroup');
  for (const root of roots) {
    for (const id of ids) {
      for (const parent of ['docker', 'system.slice']) {
        const dir = path.join(root, parent, parent === 'docker' ? id : `docker-${id}.scope`);
        try {
          fs.rmdirSync(dir);
        } catch {
          /* absent or busy */
        }
      }
    }
  }
}

/** removeContainerCgroupsSync for every host folder of a lab folder. */
function removeLabCgroupsSync(labDir: string): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(labDir);
  } catch {
    return;
  }
  for (const n of names) removeContainerCgroupsSync(path.join(labDir, n, 'fs', 'var-lib-docker'));
}

function deleteNetnsSync(ns: string): void {
  spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore', timeout: 10_000 });
}

// ---------------------------------------------------------------------------------------------
// Stale labs

interface OwnerInfo {
  pid: number;
  start: string | undefined;
}

function labIdPattern(prefix: string): RegExp {
  const esc = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(${esc}-(\\d+)-[0-9a-f]{4})(?:-|$)`);
}

function ownerAlive(labId: string, pid: number): boolean {
  let owner: OwnerInfo | undefined;
  try {
    owner = JSON.parse(fs.readFileSync(path.join(LAB_ROOT, labId, 'owner.json'), 'utf8')) as OwnerInfo;
  } catch {
    owner = undefined;
  }
  if (!pidAlive(pid)) return false;
  if (owner && owner.start !== undefined) return pidStartTime(pid) === owner.start;
  return true;
}

/**
 * cleanupStale() for labs of any prefix that have a folder under LAB_ROOT (so certainly labs of
 * this harness) and whose owner is gone. Returns the lab ids it removed.
 */
export function cleanupAllStale(): string[] {
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(LAB_ROOT);
  } catch {
    return [];
  }
  const prefixes = new Set<string>();
  for (const d of dirs) {
    const m = /^([a-z][a-z0-9]{0,7})-\d+-[0-9a-f]{4}$/.exec(d);
    if (m && m[1] && fs.existsSync(path.join(LAB_ROOT, d, 'owner.json'))) prefixes.add(m[1]);
  }
  return [...prefixes].flatMap((p) => cleanupStale(p));
}

/**
 * Remove what an earlier run with the same prefix left behind (a crashed or SIGKILLed test
 * process): its namespaces, the processes in them (by the pids `ip netns pids` reports, and their
 * descendants) and its folder under LAB_ROOT. Labs whose owning process is still alive (another
 * test file running now) are left alone. Returns the lab ids it removed.
 */
export function cleanupStale(prefix = 'pnt'): string[] {
  const re = labIdPattern(prefix);
  const stale = new Set<string>();
  const consider = (labId: string, pid: number): void => {
    if (!stale.has(labId) && pid !== process.pid && !ownerAlive(labId, pid)) stale.add(labId);
  };
  const all = listNetnsSync();
  for (const ns of all) {
    const m = re.exec(ns);
    if (m && m[1] && m[2]) consider(m[1], Number(m[2]));
  }
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(LAB_ROOT);
  } catch {
    /* none */
  }
  for (const d of dirs) {
    const m = re.exec(d);
    if (m && m[1] === d && m[2]) consider(d, Number(m[2]));
  }
  for (const labId of stale) {
    const nss = all.filter((ns) => ns.startsWith(labId + '-'));
    // Hosts first (their holders keep mount namespaces), the switch last.
    nss.sort((a, b) => Number(a.endsWith('-sw')) - Number(b.endsWith('-sw')));
    for (const ns of nss) killNetnsSync(ns, []);
    for (const ns of nss) deleteNetnsSync(ns);
    removeLabCgroupsSync(path.join(LAB_ROOT, labId));
    try {
      removeLabDir(path.join(LAB_ROOT, labId));
    } catch (err) {
      process.stderr.write(`podnet lab: cleanupStale: ${(err as Error).message}\n`);
    }
  }
  return [...stale.keys()];
}

// ---------------------------------------------------------------------------------------------
// Safety net: delete namespaces synchronously if the process exits without lab.destroy()

const liveLabs = new Set<LabImpl>();

/** True if file descriptor `fd` is a pipe that no other process holds open (its reader is gone). */
function pipeReaderGone(fd: number): boolean {
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  if (!target.startsWith('pipe:')) return false;
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent) || Number(ent) === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${ent}/fd`);
    } catch {
      continue;
    }
    for (const f of fds) {
      try {
        if (fs.readlinkSync(`/proc/${ent}/fd/${f}`) === target) return false;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return true;
}

let safetyNetInstalled = false;

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  const parentPid = process.ppid;
  // Prepended: an earlier 'exit' listener that throws (node:test's reporter writing to a closed
  // stdout, EPIPE) would stop the listeners after it from running.
  process.prependListener('exit', () => {
    for (const lab of [...liveLabs]) {
      try {
        lab.destroySync();
      } catch {
        /* keep going */
      }
    }
  });
  // node:test's harness rethrows an EPIPE on its closed stdout (e.g. `node --test | head`) from
  // its uncaughtException handler, which kills the process (exit code 7) without 'exit' events.
  process.prependListener('uncaughtException', (err: NodeJS.ErrnoException) => {
    // Our output is gone if it was a pipe with no reader left, or our parent (the `node --test`
    // runner, which reads our stdout through a socket) has died.
    if (err?.code === 'EPIPE' && (process.ppid !== parentPid || pipeReaderGone(1) || pipeReaderGone(2))) {
      for (const lab of [...liveLabs]) {
        try {
          lab.destroySync();
        } catch {
          /* keep going */
        }
      }
    }
  });
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(sig, () => {
      for (const lab of [...liveLabs]) {
        try {
          lab.destroySync();
        } catch {
          /* keep going */
        }
      }
      process.exit(code);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Nodes

export interface SpawnOptions {
  /** File that receives the process's stdout and stderr (appended). Default: a file in the node's log folder. */
  logFile?: string;
  /** Extra environment variables (added to this process's environment). */
  env?: Record<string, string>;
  /** Replace the environment entirely instead of extending it. */
  replaceEnv?: boolean;
}

export interface Spawned {
  pid: number;
  child: ChildProcess;
  logFile: string;
  /**
   * Resolves when the process has exited. Spawned processes do not keep the test process alive
   * (a test that forgets destroy() must not hang; the exit handler cleans up), but reading
   * `exited` does, until the process exits.
   */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  readonly hasExited: boolean;
}

function childEnv(extra: Record<string, string> | undefined, replace: boolean | undefined): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = replace ? {} : { ...process.env };
  // A node:test child must not pass its test-runner context on to the programs under test.
  delete base.NODE_TEST_CONTEXT;
  return { ...base, ...(extra ?? {}) };
}

/** Something on the lab switch with an underlay address: a host, a client or the outside router. */
abstract class LabNode {
  /** Pids of processes this node spawned that have not exited yet. */
  readonly spawned = new Map<number, Spawned>();
  protected destroyed = false;

  constructor(
    readonly lab: LabImpl,
    /** The short name given to addHost/addClient ("outside" for the router). */
    readonly name: string,
    /** The network namespace (`ip netns` name). */
    readonly ns: string,
    /** The underlay address (192.168.200.x, no prefix length). */
    readonly ip: string,
    /** The veth port name in the switch namespace. */
    readonly switchPort: string,
    /** This node's folder (logs etc.). */
    readonly dir: string,
  ) {}

  /** The argv prefix that enters this node. */
  protected abstract enter(): string[];

  /** Run a command inside this node (environment: this process's, less NODE_TEST_CONTEXT). */
  exec(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.assertUsable();
    return run([...this.enter(), ...argv], { ...opts, env: opts.env ?? childEnv(undefined, false) });
  }

  /** Start a long-running process inside this node, output to a log file. Stopped by destroy(). */
  spawn(argv: readonly string[], opts: SpawnOptions = {}): Spawned {
    this.assertUsable();
    const logFile = opts.logFile ?? path.join(this.dir, 'logs', `${path.basename(argv[0] ?? 'proc')}-${Date.now()}.log`);
    return this.spawnArgv([...this.enter(), ...argv], { ...opts, logFile });
  }

  /** Spawn a full argv (not entering the node), tracked for destroy(). */
  protected spawnArgv(full: readonly string[], opts: SpawnOptions & { logFile: string }): Spawned {
    const logFile = opts.logFile;
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = fs.openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      fs.writeSync(fd, `--- ${new Date().toISOString()} ${formatArgv(full)}\n`);
      child = spawn(full[0] as string, full.slice(1), {
        stdio: ['ignore', fd, fd],
        env: childEnv(opts.env, opts.replaceEnv),
        detached: true, // own process group: a Ctrl-C reaches the harness, which then cleans up
      });
    } finally {
      fs.closeSync(fd);
    }
    if (child.pid === undefined) {
      child.on('error', () => undefined); // reported by the throw below, not as an uncaught error
      throw new Error(`cannot start ${formatArgv(full)}`);
    }
    const pid = child.pid;
    let hasExited = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => {
        hasExited = true;
        this.spawned.delete(pid);
        resolve({ code, signal });
      });
      child.on('error', () => {
        hasExited = true;
        this.spawned.delete(pid);
        resolve({ code: 127, signal: null });
      });
    });
    child.unref(); // a test that forgets destroy() must not hang: the exit handler cleans up
    const s: Spawned = {
      pid,
      child,
      logFile,
      get exited() {
        if (!hasExited) child.ref();
        return exited;
      },
      get hasExited() {
        return hasExited;
      },
    };
    this.spawned.set(pid, s);
    return s;
  }

  /** Pids of the processes in this node's network namespace right now. */
  async pids(): Promise<number[]> {
    const r = await run(['ip', 'netns', 'pids', this.ns], { allowFail: true });
    return r.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
  }

  protected assertUsable(): void {
    if (this.destroyed) throw new Error(`${this.name} (${this.ns}) has been destroyed`);
  }

  /** Pids to kill besides those of the namespace. */
  protected extraPids(): number[] {
    return [...this.spawned.keys()];
  }

  /** Kill everything, remove the namespace, its switch port and folder. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const left = await killNetns(this.ns, this.extraPids());
    await run(['ip', '-n', this.lab.switchNs, 'link', 'del', this.switchPort], { allowFail: true });
    await run(['ip', 'netns', 'delete', this.ns], { allowFail: true });
    if (left.length) throw new Error(`${this.name}: processes survived SIGKILL: ${left.join(' ')}`);
    removeContainerCgroupsSync(path.join(this.dir, 'fs', 'var-lib-docker'));
    removeLabDir(this.dir);
  }

  destroySync(): void {
    this.destroyed = true;
    killNetnsSync(this.ns, this.extraPids());
    spawnSync('ip', ['-n', this.lab.switchNs, 'link', 'del', this.switchPort], { stdio: 'ignore', timeout: 10_000 });
    deleteNetnsSync(this.ns);
  }
}

/** A plain namespace on the switch ("another machine"): no mounts, commands via `ip netns exec`. */
export class TestClient extends LabNode {
  protected enter(): string[] {
    return ['ip', 'netns', 'exec', this.ns];
  }
}

/** The outside router: 192.168.200.1 on the underlay and 203.0.113.1 on its lo. */
export class OutsideRouter extends TestClient {
  readonly publicIp = OUTSIDE_PUBLIC_IP;
}

export interface StartDockerOptions {
  /** Extra dockerd flags (e.g. ['--iptables=false'] for a deliberate second case). */
  extraArgs?: string[];
  /** How long to wait for `docker info`. Default 30 s. */
  timeoutMs?: number;
}

export interface StartPodnetOptions {
  /** Program to run instead of `${REPO_ROOT}/bin/podnet.js` (argv after `node`). */
  argv?: string[];
  /** How long to wait for the plugin socket. Default 20 s. */
  timeoutMs?: number;
}

/** A test host that looks like a real host (see the file comment). */
export class TestHost extends LabNode {
  /** The holder process that keeps the private mount namespace. */
  holderPid = 0;
  private holder: Spawned | undefined;
  private containerd: Spawned | undefined;
  private dockerd: Spawned | undefined;
  private podnet: Spawned | undefined;
  private ovs: OvsProcesses | undefined;
  private underlayOnOvs = false;

  protected enter(): string[] {
    return ['nsenter', `--mount=/proc/${this.holderPid}/ns/mnt`, `--net=/run/netns/${this.ns}`, '--'];
  }

  /** Where a private folder of the host (one of HOST_PRIVATE_DIRS) is, seen from outside. */
  hostPath(insidePath: (typeof HOST_PRIVATE_DIRS)[number]): string {
    return path.join(this.dir, 'fs', insidePath.replace(/^\//, '').replace(/\//g, '-'));
  }

  /** A path inside the host's mount namespace as seen from outside (through /proc/<holder>/root). */
  viewPath(insidePath: string): string {
    return `/proc/${this.holderPid}/root${insidePath}`;
  }

  /** The host's log folder (containerd.log, dockerd.log, podnet.log, holder.log, ...). */
  get logDir(): string {
    return path.join(this.dir, 'logs');
  }

  /** @internal Start the holder: private mount namespace with the host's mounts. */
  async startHolder(): Promise<void> {
    const cg = path.join(this.dir, 'cgroup-move');
    fs.mkdirSync(cg, { recursive: true });
    const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const lines = [
      'set -e',
      // Copies of other namespaces' /run/netns bind mounts would keep those namespaces alive
      // after `ip netns delete` (this mount namespace is private): drop them.
      'if mountpoint -q /run/netns; then umount -l /run/netns; fi',
      // A sysfs of this netns (so /sys/class/net shows this host's links), keeping the cgroup
      // mounts (`ip netns exec` loses them, and dockerd then fails with "Devices cgroup isn't mounted").
      `mount --rbind /sys/fs/cgroup ${q(cg)}`,
      'mount -t sysfs -o nosuid,nodev,noexec sysfs /sys',
      `mount --move ${q(cg)} /sys/fs/cgroup`,
      'mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run',
      'mkdir -p /run/lock',
    ];
    for (const d of HOST_PRIVATE_DIRS) {
      const src = this.hostPath(d);
      fs.mkdirSync(src, { recursive: true });
      // The mount point must exist on the shared root file system (an empty folder at most).
      lines.push(`mkdir -p ${q(d)}`, `mount --bind ${q(src)} ${q(d)}`);
    }
    lines.push('exec sleep infinity');
    this.holder = this.spawnArgv(
      ['unshare', '-m', '--propagation', 'private', 'nsenter', `--net=/run/netns/${this.ns}`, 'sh', '-c', lines.join('\n')],
      { logFile: path.join(this.logDir, 'holder.log') },
    );
    this.holderPid = this.holder.pid;
    const holder = this.holder;
    await waitFor(
      async () => {
        if (holder.hasExited) throw new WaitAbort(`the holder exited: ${JSON.stringify(await holder.exited)}`);
        const comm = fs.readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim();
        return comm === 'sleep';
      },
      10_000,
      `the mount holder of ${this.name}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nholder.log: ${this.readLog('holder.log')}`);
    });
  }

  override exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    if (this.holderPid === 0) return Promise.reject(new Error(`${this.name}: the host is not up yet`));
    return super.exec(argv, opts);
  }

  override spawn(argv: readonly string[], opts?: SpawnOptions): Spawned {
    if (this.holderPid === 0) throw new Error(`${this.name}: the host is not up yet`);
    return super.spawn(argv, opts);
  }

  /** Text of one of the host's log files ('' if missing). */
  readLog(file: string): string {
    try {
      return fs.readFileSync(path.join(this.logDir, file), 'utf8');
    } catch {
      return '';
    }
  }

  /** Start containerd and dockerd (default settings: iptables on) and wait for `docker info`. */
  async startDocker(opts: StartDockerOptions = {}): Promise<void> {
    this.assertUsable();
    const timeoutMs = opts.timeoutMs ?? 30_000;
    if (!this.containerd || this.containerd.hasExited) {
      this.containerd = this.spawn(['containerd'], { logFile: path.join(this.logDir, 'containerd.log') });
      const c = this.containerd;
      await waitFor(
        async () => {
          if (c.hasExited) throw new WaitAbort(`containerd exited: ${JSON.stringify(await c.exited)}`);
          return fs.existsSync(this.viewPath('/run/containerd/containerd.sock'));
        },
        timeoutMs,
        `containerd on ${this.name}`,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\ncontainerd.log:\n${tailText(this.readLog('containerd.log'))}`);
      });
    }
    if (this.dockerd && !this.dockerd.hasExited) return;
    this.dockerd = this.spawn(['dockerd', '--containerd=/run/containerd/containerd.sock', ...(opts.extraArgs ?? [])], {
      logFile: path.join(this.logDir, 'dockerd.log'),
    });
    const d = this.dockerd;
    await waitFor(
      async () => {
        if (d.hasExited) throw new WaitAbort(`dockerd exited: ${JSON.stringify(await d.exited)}`);
        if (!fs.existsSync(this.viewPath('/run/docker.sock'))) return false;
        const r = await this.docker(['info', '--format', '{{.ServerVersion}}'], { allowFail: true, timeoutMs: 10_000 });
        return r.code === 0;
      },
      timeoutMs,
      `dockerd on ${this.name}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\ndockerd.log:\n${tailText(this.readLog('dockerd.log'))}`);
    });
  }

  /** Stop dockerd (SIGTERM, then SIGKILL after 15 s); containerd keeps running. */
  async stopDocker(): Promise<void> {
    const d = this.dockerd;
    if (!d || d.hasExited) return;
    await stopProcess(d, 'SIGTERM', 15_000);
  }

  /** The pid of dockerd, if running. */
  get dockerdPid(): number | undefined {
    return this.dockerd && !this.dockerd.hasExited ? this.dockerd.pid : undefined;
  }

  /** Run the docker CLI against this host's dockerd. */
  docker(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.exec([DOCKER_BIN, ...args], opts);
  }

  /**
   * Start Open vSwitch inside the host as on a real node: `ovsdb-tool create
   * /etc/openvswitch/conf.db` (if missing), ovsdb-server (punix:/run/openvswitch/db.sock,
   * --pidfile) and ovs-vswitchd (--pidfile), both tracked by pid (stopped by stopOvs()/destroy()),
   * `ovs-vsctl --no-wait init`, external_ids hostname/system-id; returns once vswitchd has applied
   * a change and `ovs-vsctl show` answers. Logs: <host>/logs/*.out and the host's
   * /var/log/openvswitch (hostPath('/var/log/openvswitch')).
   */
  async startOvs(opts: StartOvsOptions = {}): Promise<{ ovsdbServer: number; vswitchd: number }> {
    this.assertUsable();
    if (!this.ovs || this.ovs.ovsdbServer.hasExited || this.ovs.vswitchd.hasExited) {
      if (this.ovs) await this.stopOvs();
      this.ovs = await startOvs(this, this.hostPath('/var/log/openvswitch'), opts);
    }
    return { ovsdbServer: this.ovs.ovsdbServer.pid, vswitchd: this.ovs.vswitchd.pid };
  }

  /** The pids of ovsdb-server and ovs-vswitchd while both run. */
  get ovsPids(): { ovsdbServer: number; vswitchd: number } | undefined {
    const o = this.ovs;
    if (!o || o.ovsdbServer.hasExited || o.vswitchd.hasExited) return undefined;
    return { ovsdbServer: o.ovsdbServer.pid, vswitchd: o.vswitchd.pid };
  }

  /** Stop ovs-vswitchd, then ovsdb-server (SIGTERM by pid, SIGKILL after 5 s). The database stays. */
  async stopOvs(): Promise<void> {
    const o = this.ovs;
    if (!o) return;
    await stopProcess(o.vswitchd, 'SIGTERM', 5000);
    await stopProcess(o.ovsdbServer, 'SIGTERM', 5000);
  }

  /**
   * The administrator's preparation of a userspace-datapath node (idempotent; part of
   * `addHost(name, { ovs: true })` unless `underlayOnOvs: false`): eth0 into the OVS bridge brphy
   * (datapath_type=netdev, eth0's MAC), the underlay address and default route moved from eth0
   * to brphy, offloads off on eth0 (`tx tso gso gro`) and on the lab switch's port facing eth0
   * (`tx tso gso`: a real wire delivers MTU-sized, checksummed frames), and an nftables netdev
   * ingress drop on eth0 so that only OVS takes eth0's frames (not the kernel stack as well).
   * See ovs.ts for why each step is there and which offloads are load-bearing.
   */
  async prepareUnderlayOnOvs(opts: PrepareUnderlayOptions = {}): Promise<void> {
    this.assertUsable();
    if (!this.ovsPids) throw new Error(`${this.name}: start Open vSwitch first (startOvs() or addHost(..., { ovs: true }))`);
    await prepareUnderlayOnOvs(
      this,
      {
        switchExec: (argv) => run(['ip', 'netns', 'exec', this.lab.switchNs, ...argv]),
        switchPort: this.switchPort,
        prefixLen: UNDERLAY_PREFIXLEN,
        gateway: OUTSIDE_IP,
      },
      opts,
    );
    this.underlayOnOvs = true;
  }

  /** The device holding the host's underlay address: 'brphy' after prepareUnderlayOnOvs(), else 'eth0'. */
  get underlayDev(): string {
    return this.underlayOnOvs ? UNDERLAY_BRIDGE : UNDERLAY_NIC;
  }

  /** `ovs-vsctl --timeout=20 ARGS` inside the host (its own ovsdb-server, default socket). */
  ovsVsctl(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.exec(['ovs-vsctl', '--timeout=20', ...args], opts);
  }

  /** `ovs-ofctl ARGS` inside the host (e.g. ['add-flows', 'obr0', '-'] with opts.input). */
  ovsOfctl(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.exec(['ovs-ofctl', ...args], opts);
  }

  /** `ovs-appctl --timeout=20 ARGS` inside the host (default target ovs-vswitchd). */
  ovsAppctl(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.exec(['ovs-appctl', '--timeout=20', ...args], opts);
  }

  /**
   * Write a file as seen inside the host (e.g. /etc/podnet/cluster.json), the way an
   * administrator's editor does: parent folders created, content to a temporary name in the same
   * folder, chmod, then rename over the target (one atomic change for a watcher).
   */
  async writeFile(insidePath: string, content: string, opts: { mode?: number } = {}): Promise<void> {
    if (!insidePath.startsWith('/')) throw new Error(`writeFile: ${insidePath} is not an absolute path`);
    const mode = (opts.mode ?? 0o644).toString(8);
    await this.exec(['sh', '-c', WRITE_FILE_SCRIPT, 'write-file', insidePath, mode], { input: content });
  }

  /**
   * Start `node <repo>/bin/podnet.js serve` inside the host (DEBUG=podnet:* plus `env`), log to
   * podnet.log, and wait until the plugin socket accepts connections.
   */
  async startPodnet(env: Record<string, string> = {}, opts: StartPodnetOptions = {}): Promise<{ pid: number }> {
    this.assertUsable();
    if (this.podnet && !this.podnet.hasExited) throw new Error(`podnet is already running on ${this.name} (pid ${this.podnet.pid})`);
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const argv = [process.execPath, ...(opts.argv ?? [path.join(REPO_ROOT, 'bin', 'podnet.js'), 'serve'])];
    const p = this.spawn(argv, { logFile: path.join(this.logDir, 'podnet.log'), env: { DEBUG: 'podnet:*', ...env } });
    this.podnet = p;
    const sock = this.viewPath(PODNET_SOCKET);
    await waitFor(
      async () => {
        if (p.hasExited) throw new WaitAbort(`podnet exited: ${JSON.stringify(await p.exited)}`);
        const r = await this.exec(['test', '-S', PODNET_SOCKET], { allowFail: true });
        // A socket left by a killed podnet exists but refuses connections: connect to be sure.
        return r.code === 0 && (await canConnect(sock));
      },
      timeoutMs,
      `podnet's socket ${PODNET_SOCKET} on ${this.name}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\npodnet.log:\n${tailText(this.logs())}`);
    });
    return { pid: p.pid };
  }

  /** The pid of podnet, if running. */
  get podnetPid(): number | undefined {
    return this.podnet && !this.podnet.hasExited ? this.podnet.pid : undefined;
  }

  /** Send `signal` to podnet and wait for it to exit (a crash, by default). */
  async killPodnet(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const p = this.podnet;
    if (!p) throw new Error(`podnet was not started on ${this.name}`);
    if (p.hasExited) return p.exited;
    killQuiet(p.pid, signal);
    return withTimeout(p.exited, 15_000, `podnet on ${this.name} to exit after ${signal}`);
  }

  /** Stop podnet gracefully (SIGTERM) and wait for it to exit; throws if it needed a SIGKILL. */
  async stopPodnet(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const p = this.podnet;
    if (!p) throw new Error(`podnet was not started on ${this.name}`);
    if (p.hasExited) return p.exited;
    return stopProcess(p, 'SIGTERM', timeoutMs, true);
  }

  /** The podnet log text (for failure messages). */
  logs(): string {
    return this.readLog('podnet.log');
  }

  protected override extraPids(): number[] {
    // The holder is in the namespace too; listed explicitly in case the namespace is gone.
    return [...super.extraPids(), ...(this.holder && !this.holder.hasExited ? [this.holder.pid] : [])];
  }

  /** Remove all containers, stop podnet/dockerd/containerd, kill the rest, delete the namespace. */
  override async destroy(): Promise<void> {
    if (this.destroyed) return;
    const errors: string[] = [];
    if (this.dockerd && !this.dockerd.hasExited && this.holder && !this.holder.hasExited) {
      const ps = await this.docker(['ps', '-aq'], { allowFail: true, timeoutMs: 15_000 });
      const ids = ps.stdout.split(/\s+/).filter(Boolean);
      if (ids.length) {
        const rm = await this.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 90_000 });
        if (rm.code !== 0) errors.push(`docker rm -f: ${rm.stderr.trim()}`);
      }
    }
    // Graceful stop first (dockerd tidies its state), then SIGKILL whatever is left.
    const graceful = [this.podnet, this.dockerd, this.containerd].filter((p): p is Spawned => !!p && !p.hasExited);
    await Promise.all(graceful.map((p) => stopProcess(p, 'SIGTERM', 5000).catch(() => undefined)));
    // Open vSwitch after its users: vswitchd, then ovsdb-server.
    await this.stopOvs().catch(() => undefined);
    try {
      await super.destroy();
    } catch (err) {
      errors.push((err as Error).message);
    }
    if (errors.length) throw new Error(`destroying ${this.name}: ${errors.join('; ')}`);
  }
}

function tailText(s: string, max = 6000): string {
  return s.length > max ? '...' + s.slice(s.length - max) : s;
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection({ path: socketPath });
    const done = (ok: boolean): void => {
      c.destroy();
      resolve(ok);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(2000, () => done(false));
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Signal a spawned process, wait up to `ms` for it to exit, then SIGKILL it (and throw if `strict`). */
async function stopProcess(
  p: Spawned,
  signal: NodeJS.Signals,
  ms: number,
  strict = false,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.hasExited) return p.exited;
  killQuiet(p.pid, signal);
  try {
    return await withTimeout(p.exited, ms, `pid ${p.pid} to exit after ${signal}`);
  } catch (err) {
    killQuiet(p.pid, 'SIGKILL');
    const res = await p.exited;
    if (strict) throw new Error(`${(err as Error).message}; killed it with SIGKILL`);
    return res;
  }
}

// ---------------------------------------------------------------------------------------------
// The lab

export interface AddHostOptions {
  /** Also start containerd + dockerd (default false). */
  docker?: boolean;
  /**
   * Set net.ipv4.ip_forward=1 when the host is created (default false). Left at the kernel's 0,
   * the host is like a fresh install: dockerd then turns forwarding on itself AND sets the
   * iptables FORWARD policy to DROP (the trap in HOST-LAB.md). With true, dockerd finds
   * forwarding on and leaves the policy at ACCEPT (a host already configured as a router).
   */
  ipForward?: boolean;
  /**
   * Run Open vSwitch inside the host (TestHost.startOvs(), default false) and, unless
   * `underlayOnOvs: false`, prepare the host for the userspace datapath
   * (TestHost.prepareUnderlayOnOvs(): eth0 in brphy, the underlay address on brphy).
   * Open vSwitch starts before dockerd.
   */
  ovs?: boolean;
  /** With `ovs: true`: move the underlay onto brphy (default true). */
  underlayOnOvs?: boolean;
}

export interface Lab {
  /** `${prefix}-${pid}-${4 hex}`: the start of every namespace name of this lab. */
  readonly id: string;
  /** The lab's folder under LAB_ROOT. */
  readonly dir: string;
  /** The switch namespace (bridge br0). */
  readonly switchNs: string;
  /** The "outside" router namespace: 192.168.200.1 and 203.0.113.1. */
  readonly outside: OutsideRouter;
  readonly hosts: ReadonlyMap<string, TestHost>;
  readonly clients: ReadonlyMap<string, TestClient>;
  addHost(name: string, opts?: AddHostOptions): Promise<TestHost>;
  addClient(name: string): Promise<TestClient>;
  /** All namespace names of this lab that exist now. */
  namespaces(): Promise<string[]>;
  /** Tear everything down; safe after a partial failure, idempotent. */
  destroy(): Promise<void>;
}

class LabImpl implements Lab {
  readonly switchNs: string;
  readonly dir: string;
  outside!: OutsideRouter;
  readonly hosts = new Map<string, TestHost>();
  readonly clients = new Map<string, TestClient>();
  private hostCount = 0;
  private clientCount = 0;
  private destroying: Promise<void> | undefined;

  constructor(readonly id: string) {
    this.switchNs = `${id}-sw`;
    this.dir = path.join(LAB_ROOT, id);
  }

  async init(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const owner: OwnerInfo = { pid: process.pid, start: pidStartTime(process.pid) };
    fs.writeFileSync(path.join(this.dir, 'owner.json'), JSON.stringify(owner));
    await this.addNetns(this.switchNs);
    await run(['ip', '-n', this.switchNs, 'link', 'set', 'lo', 'up']);
    await run(['ip', '-n', this.switchNs, 'link', 'add', SWITCH_BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await run(['ip', '-n', this.switchNs, 'link', 'set', SWITCH_BRIDGE, 'up']);
    const outNs = `${this.id}-out`;
    this.outside = new OutsideRouter(this, 'outside', outNs, OUTSIDE_IP, 'out', path.join(this.dir, 'outside'));
    fs.mkdirSync(path.join(this.outside.dir, 'logs'), { recursive: true });
    await this.plugIn(this.outside);
    await run(['ip', '-n', outNs, 'addr', 'add', `${OUTSIDE_PUBLIC_IP}/32`, 'dev', 'lo']);
    await sysctl(outNs, 'net.ipv4.ip_forward', '1');
  }

  private async addNetns(ns: string): Promise<void> {
    if (ns.length > 200 || !/^[A-Za-z0-9_.-]+$/.test(ns)) throw new Error(`bad namespace name ${ns}`);
    await run(['ip', 'netns', 'add', ns]);
  }

  /** Create node.ns, a veth eth0 in it plugged into the switch, address, lo, default route. */
  private async plugIn(node: LabNode): Promise<void> {
    await this.addNetns(node.ns);
    const sw = this.switchNs;
    await run(['ip', '-n', sw, 'link', 'add', node.switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.ns]);
    await run(['ip', '-n', sw, 'link', 'set', node.switchPort, 'master', SWITCH_BRIDGE, 'up']);
    await run(['ip', '-n', node.ns, 'link', 'set', 'lo', 'up']);
    await run(['ip', '-n', node.ns, 'addr', 'add', `${node.ip}/${UNDERLAY_PREFIXLEN}`, 'dev', 'eth0']);
    await run(['ip', '-n', node.ns, 'link', 'set', 'eth0', 'up']);
    if (node.ip !== OUTSIDE_IP) {
      await run(['ip', '-n', node.ns, 'route', 'add', 'default', 'via', OUTSIDE_IP, 'dev', 'eth0']);
    }
  }

  private checkName(name: string): void {
    if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) throw new Error(`bad node name ${JSON.stringify(name)}: use [a-z][a-z0-9]{0,11}`);
    if (name === 'sw' || name === 'out' || this.hosts.has(name) || this.clients.has(name)) throw new Error(`node name ${name} is taken`);
    if (this.destroying) throw new Error(`lab ${this.id} is being destroyed`);
  }

  async addHost(name: string, opts: AddHostOptions = {}): Promise<TestHost> {
    this.checkName(name);
    const i = ++this.hostCount;
    if (i > 80) throw new Error('too many hosts');
    const host = new TestHost(this, name, `${this.id}-${name}`, `${UNDERLAY_PREFIX}.${10 + i}`, `h${i}`, path.join(this.dir, name));
    this.hosts.set(name, host);
    fs.mkdirSync(host.logDir, { recursive: true });
    await this.plugIn(host);
    if (opts.ipForward) await sysctl(host.ns, 'net.ipv4.ip_forward', '1');
    await host.startHolder();
    if (opts.ovs) {
      await host.startOvs();
      if (opts.underlayOnOvs !== false) await host.prepareUnderlayOnOvs();
    }
    if (opts.docker) await host.startDocker();
    return host;
  }

  async addClient(name: string): Promise<TestClient> {
    this.checkName(name);
    const i = ++this.clientCount;
    if (i > 100) throw new Error('too many clients');
    const client = new TestClient(this, name, `${this.id}-${name}`, `${UNDERLAY_PREFIX}.${100 + i}`, `c${i}`, path.join(this.dir, name));
    this.clients.set(name, client);
    fs.mkdirSync(path.join(client.dir, 'logs'), { recursive: true });
    await this.plugIn(client);
    return client;
  }

  async namespaces(): Promise<string[]> {
    return (await listNetns()).filter((ns) => ns.startsWith(this.id + '-'));
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    const errors: string[] = [];
    const nodes: LabNode[] = [...this.hosts.values(), ...this.clients.values()];
    if (this.outside) nodes.push(this.outside);
    const results = await Promise.allSettled(nodes.map((n) => n.destroy()));
    for (const r of results) if (r.status === 'rejected') errors.push((r.reason as Error).message);
    // Anything else named after this lab (a node that failed half-way), and the switch last.
    const left = await this.namespaces();
    left.sort((a, b) => Number(a === this.switchNs) - Number(b === this.switchNs));
    for (const ns of left) {
      const survivors = await killNetns(ns, []);
      if (survivors.length) errors.push(`${ns}: processes survived SIGKILL: ${survivors.join(' ')}`);
      await run(['ip', 'netns', 'delete', ns], { allowFail: true });
    }
    const still = await this.namespaces();
    if (still.length) errors.push(`namespaces left: ${still.join(' ')}`);
    removeLabCgroupsSync(this.dir);
    try {
      removeLabDir(this.dir);
    } catch (err) {
      errors.push((err as Error).message);
    }
    liveLabs.delete(this);
    if (errors.length) throw new Error(`lab ${this.id} teardown: ${errors.join('\n')}`);
  }

  /** Best-effort synchronous teardown for the process exit handler. */
  destroySync(): void {
    liveLabs.delete(this);
    const nodes: LabNode[] = [...this.hosts.values(), ...this.clients.values()];
    if (this.outside) nodes.push(this.outside);
    for (const n of nodes) {
      try {
        n.destroySync();
      } catch {
        /* keep going */
      }
    }
    for (const ns of listNetnsSync().filter((ns) => ns.startsWith(this.id + '-'))) {
      if (ns === this.switchNs) continue;
      killNetnsSync(ns, []);
      deleteNetnsSync(ns);
    }
    killNetnsSync(this.switchNs, []);
    deleteNetnsSync(this.switchNs);
    removeLabCgroupsSync(this.dir);
    try {
      removeLabDir(this.dir);
    } catch {
      /* cleanupStale of a later run retries */
    }
  }
}

async function sysctl(ns: string, key: string, value: string): Promise<void> {
  await run(['nsenter', `--net=/run/netns/${ns}`, '--', 'sysctl', '-q', '-w', `${key}=${value}`]);
}

/**
 * Create a lab: a switch namespace with a bridge and the outside router. Removes leftovers of
 * crashed earlier runs with the same prefix first. Call `lab.destroy()` in `after()`.
 */
export async function createLab(prefix = 'pnt'): Promise<Lab> {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`bad lab prefix ${JSON.stringify(prefix)}: use [a-z][a-z0-9]{0,7}`);
  if (process.getuid?.() !== 0) throw new Error('the lab needs root');
  cleanupStale(prefix);
  cleanupAllStale();
  const id = `${prefix}-${process.pid}-${crypto.randomBytes(2).toString('hex')}`;
  const lab = new LabImpl(id);
  installSafetyNet();
  liveLabs.add(lab);
  try {
    await lab.init();
  } catch (err) {
    await lab.destroy().catch(() => undefined);
    throw err;
  }
  return lab;
}

/** Why lab tests cannot run here, or undefined if they can (for `test(..., { skip })`). */
export function labSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the lab needs root (network and mount namespaces); run the e2e tests as root';
  for (const bin of ['ip', 'nsenter', 'unshare']) {
    const r = spawnSync(bin, ['-V'], { stdio: 'ignore' });
    if (r.error) return `the lab needs ${bin}`;
  }
  return undefined;
}

/** labSkipReason() plus Open vSwitch (Debian openvswitch-switch), ethtool, nft, socat and iperf3. */
export function ovsLabSkipReason(): string | undefined {
  const base = labSkipReason();
  if (base) return base;
  for (const [bin, arg, pkg] of [
    ['ovsdb-tool', '--version', 'openvswitch-switch'],
    ['ovsdb-server', '--version', 'openvswitch-switch'],
    ['ovs-vswitchd', '--version', 'openvswitch-switch'],
    ['ovs-vsctl', '--version', 'openvswitch-switch'],
    ['ovs-ofctl', '--version', 'openvswitch-switch'],
    ['ethtool', '--version', 'ethtool'],
    ['nft', '--version', 'nftables'],
    ['socat', '-V', 'socat'],
    ['iperf3', '--version', 'iperf3'],
  ] as const) {
    const r = spawnSync(bin, [arg], { stdio: 'ignore' });
    if (r.error) return `the OVS lab needs ${bin} (Debian package ${pkg})`;
  }
  if (!fs.existsSync('/usr/share/openvswitch/vswitch.ovsschema')) return 'the OVS lab needs /usr/share/openvswitch/vswitch.ovsschema (openvswitch-common)';
  return undefined;
}

/** labSkipReason() plus dockerd/containerd being installed. */
export function dockerLabSkipReason(): string | undefined {
  const base = labSkipReason();
  if (base) return base;
  for (const bin of ['dockerd', 'containerd', DOCKER_BIN]) {
    const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
    if (r.error) return `the docker lab needs ${bin} (Debian package docker.io)`;
  }
  return undefined;
}
