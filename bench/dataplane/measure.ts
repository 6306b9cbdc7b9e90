/**
 * Throughput and latency between two network namespaces, with the machine's own tools entered
 * into the pods' namespaces (nsenter --net from the root mount namespace): pods need no tools in
 * their image, and every path is measured with the same binaries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { run, sleep, waitFor } from '../../test/harness/exec';
import { summarize } from '../stats';
import type { DataPathResult } from '../types';

/** A pod as the benchmark sees it: a network namespace file and the address peers reach it at. */
export interface Endpoint {
  /** /run/netns/NAME or /proc/PID/ns/net. */
  readonly netns: string;
  readonly ip: string;
}

export interface Timing {
  readonly trials: number;
  /** iperf3 -t (whole seconds). */
  readonly tcpSeconds: number;
  /** Request/response client duration. */
  readonly rrSeconds: number;
  /** Pings per trial (at 10 ms intervals). */
  readonly pings: number;
}

export interface PathCase {
  readonly path: string;
  readonly label: string;
  readonly underlay: 'veth' | 'wire';
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly notes?: string;
}

const IPERF_PORT = 5201;
const RR_PORT = 5202;
const RR_SCRIPT = path.join(__dirname, 'rr.js');

export function enterNet(netns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

/** Long-running servers of one path, stopped by pid (never by name). */
class Servers {
  private readonly children: ChildProcess[] = [];
  private readonly output = new Map<ChildProcess, string>();

  /** `lifetimeS` bounds the server even if this process dies without stopping it. */
  start(netns: string, argv: readonly string[], lifetimeS: number): ChildProcess {
    // nsenter exec()s `timeout`, which passes our SIGTERM on to the server: stopping the child's
    // pid stops the server.
    const full = enterNet(netns, ['timeout', '--kill-after=2', String(lifetimeS), ...argv]);
    const child = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', () => undefined);
    this.output.set(child, '');
    const keep = (d: Buffer): void => {
      this.output.set(child, ((this.output.get(child) ?? '') + d.toString()).slice(-2000));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.children.push(child);
    return child;
  }

  outputOf(child: ChildProcess): string {
    return this.output.get(child) ?? '';
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.children.map((c) => stopChild(c)));
    this.children.length = 0;
  }
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once something listens on TCP `port` inside `netns` (ss), or throws after `ms`. */
async function waitListening(netns: string, port: number, ms: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      const r = await run(enterNet(netns, ['ss', '-Hltn', `sport = :${port}`]), { allowFail: true, timeoutMs: 5000 });
      return r.code === 0 && r.stdout.trim() !== '';
    },
    ms,
    what,
  );
}

/** Ping until one answer comes back: ARP, the first packet that OVS drops while it resolves a tunnel peer, RSTP. */
export async function waitReachable(from: Endpoint, to: Endpoint, ms: number): Promise<void> {
  await waitFor(
    async () => (await run(enterNet(from.netns, ['ping', '-c', '1', '-W', '1', to.ip]), { allowFail: true, timeoutMs: 5000 })).code === 0,
    ms,
    `${to.ip} to answer pings from ${from.netns}`,
  );
}

/** iperf3 client: Gbit/s received by the server. */
async function iperf(client: Endpoint, server: Endpoint, seconds: number, streams: number): Promise<number> {
  const argv = ['iperf3', '-c', server.ip, '-p', String(IPERF_PORT), '-t', String(seconds), '-P', String(streams), '-J', '--connect-timeout', '3000'];
  let last = '';
  // The server refuses a client while it still tidies up the previous test ("busy"): retry once.
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await run(enterNet(client.netns, argv), { allowFail: true, timeoutMs: seconds * 1000 + 20_000 });
    try {
      const j = JSON.parse(r.stdout) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
      const bps = j.end?.sum_received?.bits_per_second;
      if (!j.error && typeof bps === 'number' && bps > 0) return bps / 1e9;
      last = j.error ?? 'no sum_received in the report';
    } catch {
      last = (r.stderr || r.stdout).trim().slice(0, 300);
    }
    await sleep(500);
  }
  throw new Error(`iperf3 ${client.netns} -> ${server.ip} (-P ${streams}): ${last}`);
}

/** Mean ICMP round trip in microseconds. */
async function ping(client: Endpoint, server: Endpoint, count: number): Promise<number> {
  const r = await run(enterNet(client.netns, ['ping', '-q', '-c', String(count), '-i', '0.01', '-W', '1', '-w', '15', server.ip]), {
    allowFail: true,
    timeoutMs: 20_000,
  });
  const m = /rtt min\/avg\/max\/mdev = [\d.]+\/([\d.]+)\//.exec(r.stdout);
  if (!m || !m[1]) throw new Error(`ping ${client.netns} -> ${server.ip}: ${(r.stdout + r.stderr).trim().slice(-300)}`);
  return Number(m[1]) * 1000;
}

/** 1-byte request/response transactions per second on one TCP connection. */
async function requestResponse(client: Endpoint, server: Endpoint, seconds: number): Promise<number> {
  const r = await run(enterNet(client.netns, [process.execPath, RR_SCRIPT, 'client', server.ip, String(RR_PORT), String(seconds)]), {
    allowFail: true,
    timeoutMs: seconds * 1000 + 15_000,
  });
  try {
    const j = JSON.parse(r.stdout.trim()) as { perSec?: number };
    if (typeof j.perSec === 'number' && j.perSec > 0) return j.perSec;
  } catch {
    /* reported below */
  }
  throw new Error(`rr ${client.netns} -> ${server.ip}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
}

/**
 * Measure one path: servers in the server pod, then `trials` rounds of (1 stream, 4 streams, ping,
 * request/response), interleaved so that drift of a shared machine touches every figure alike.
 */
export async function measurePath(c: PathCase, t: Timing, log: (line: string) => void): Promise<DataPathResult> {
  const servers = new Servers();
  try {
    await waitReachable(c.client, c.server, 20_000);
    const lifetimeS = 60 + t.trials * (2 * t.tcpSeconds + t.rrSeconds + 10);
    const ip3 = servers.start(c.server.netns, ['iperf3', '-s', '-p', String(IPERF_PORT)], lifetimeS);
    const rr = servers.start(c.server.netns, [process.execPath, RR_SCRIPT, 'server', String(RR_PORT)], lifetimeS);
    await waitListening(c.server.netns, IPERF_PORT, 10_000, `iperf3 server in ${c.server.netns}`).catch((err: Error) => {
      throw new Error(`${err.message}: ${servers.outputOf(ip3)}`);
    });
    await waitListening(c.server.netns, RR_PORT, 10_000, `rr server in ${c.server.netns}`).catch((err: Error) => {
      throw new Error(`${err.message}: ${servers.outputOf(rr)}`);
    });
    const tcp1: number[] = [];
    const tcp4: number[] = [];
    const pingUs: number[] = [];
    const rrPerSec: number[] = [];
    for (let i = 0; i < t.trials; i++) {
      tcp1.push(await iperf(c.client, c.server, t.tcpSeconds, 1));
      tcp4.push(await iperf(c.client, c.server, t.tcpSeconds, 4));
      pingUs.push(await ping(c.client, c.server, t.pings));
      rrPerSec.push(await requestResponse(c.client, c.server, t.rrSeconds));
    }
    const res: DataPathResult = {
      underlay: c.underlay,
      path: c.path,
      label: c.label,
      tcp1: summarize(tcp1),
      tcp4: summarize(tcp4),
      pingUs: summarize(pingUs),
      rrPerSec: summarize(rrPerSec),
      ...(c.notes ? { notes: c.notes } : {}),
    };
    log(
      `dataplane: ${c.path} [${c.underlay}]: tcp1 ${res.tcp1.median.toFixed(2)} Gbit/s, tcp4 ${res.tcp4.median.toFixed(2)} Gbit/s, ` +
        `ping ${res.pingUs.median.toFixed(0)} us, rr ${res.rrPerSec.median.toFixed(0)}/s`,
    );
    return res;
  } finally {
    await servers.stopAll();
  }
}
