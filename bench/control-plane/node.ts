/**
 * One node under Docker: container attach through `docker run` (none, bridge, a user-defined
 * bridge, podnet), the plugin API in cycles, and attach cost with 0, 250 and 1000 endpoints
 * already present.
 */
import type { Lab, TestHost } from '../../test/harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../../test/harness/images';
import { run, waitFor } from '../../test/harness/exec';
import { summarize } from '../stats';
import type { ApiRun, BenchOptions, CallLatency, ScaleLevel, Summary } from '../types';
import { POOL_ID, PluginApi, apiCycles, attach, baselineLatency, perCallLatency, type Attached } from './plugin-api';
import * as path from 'node:path';

const SOCKET = '/run/docker/plugins/podnet.sock';
/** The scale setting: a /22 holds 1000 pods (a Linux bridge holds at most 1024 ports). */
const NODE_SUBNET = '10.244.4.0/22';
/** Released addresses come back after this many seconds (default 60): the run recycles them. */
const GRACE_SECONDS = 1;
/** A user-defined bridge network: Docker's own driver with the per-network costs podnet also pays. */
const USER_BRIDGE = 'userbridge';
const ATTACH_NETWORKS = ['none', 'bridge', USER_BRIDGE, 'podnet'];

export interface NodeBenchResult {
  readonly attach: { none: Summary; bridge: Summary; userBridge: Summary; podnet: Summary };
  readonly apiBaseline: CallLatency;
  readonly api: ApiRun[];
  readonly joinKernel: { emptyRequest: CallLatency; vethPair: CallLatency; spawnedIp: CallLatency };
  readonly nodeScale: ScaleLevel[];
}

export async function runNodeBench(lab: Lab, opts: BenchOptions): Promise<NodeBenchResult> {
  const host = await lab.addHost('cp', { docker: true });
  // As users run it: no debug logging (each logged line costs the calls being timed).
  await host.startPodnet({ PODNET_NODE_SUBNET: NODE_SUBNET, PODNET_ADDRESS_GRACE_SECONDS: String(GRACE_SECONDS), DEBUG: '' });
  await ensureTestImage(host);
  await docker(host, 'network', 'create', '-d', 'podnet', '--ipam-driver', 'podnet', 'podnet');
  await docker(host, 'network', 'create', '-d', 'bridge', USER_BRIDGE);
  const networkId = await docker(host, 'network', 'inspect', '-f', '{{.Id}}', 'podnet');
  // Warm-up: the first container pays for image layers and caches, whatever its network.
  for (const net of ATTACH_NETWORKS) await docker(host, 'run', '--rm', '--network', net, TEST_IMAGE, 'true');

  opts.log(`control plane: docker run --rm --network {${ATTACH_NETWORKS.join(',')}}`);
  const attachTimes = await dockerRunRounds(host, ATTACH_NETWORKS, opts.quick ? 4 : 10);
  const times = (net: string): Summary => summarize(attachTimes.get(net) ?? []);

  const api = new PluginApi(host.viewPath(SOCKET));
  try {
    const vethsGone = (): Promise<void> => waitForVeths(host, 0);
    opts.log('control plane: plugin API baseline and cycles');
    const apiBaseline = await baselineLatency(api, opts.quick ? 100 : 300, opts.quick ? 2 : 3);
    const cycles = opts.quick ? 100 : 250;
    const trials = opts.quick ? 2 : 3;
    const pauseMs = GRACE_SECONDS * 1000 + 200;
    const seq = await apiCycles(api, networkId, { cycles, concurrency: 1, trials, vethsGone, pauseMs });
    const conc = await apiCycles(api, networkId, { cycles, concurrency: 32, trials, vethsGone, pauseMs });

    opts.log('control plane: the kernel\'s share of a Join (veth pairs through an ip session)');
    const joinKernel = await probeJoinKernel(host, opts.quick ? 2 : 3, 100);

    const nodeScale: ScaleLevel[] = [];
    const present: Attached[] = [];
    for (const level of [0, 250, 1000]) {
      opts.log(`control plane: attach cost with ${level} endpoints present`);
      const t = new Map<string, number[]>();
      while (present.length < level) present.push(await attach(api, networkId, 'background', t));
      await waitForVeths(host, level);
      nodeScale.push(await measureLevel(host, api, networkId, level, opts));
    }
    return {
      attach: { none: times('none'), bridge: times('bridge'), userBridge: times(USER_BRIDGE), podnet: times('podnet') },
      apiBaseline,
      api: [seq, conc],
      joinKernel,
      nodeScale,
    };
  } finally {
    api.close();
  }
}

/** Attach cost at one level: API attaches (each followed by its detach, untimed) and docker runs. */
async function measureLevel(host: TestHost, api: PluginApi, networkId: string, level: number, opts: BenchOptions): Promise<ScaleLevel> {
  const perAttach: number[] = [];
  // At 1000 of 1021 addresses only ~20 are free: rounds of 15, each after the grace period.
  const rounds = opts.quick ? 2 : 5;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 15; i++) {
      const t = new Map<string, number[]>();
      const start = process.hrtime.bigint();
      const a = await attach(api, networkId, 'probe', t);
      perAttach.push(Number(process.hrtime.bigint() - start) / 1e6);
      await api.call('NetworkDriver.Leave', { NetworkID: networkId, EndpointID: a.endpointId });
      await api.call('NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: a.endpointId });
      await api.call('IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: a.address.split('/')[0] });
    }
    await new Promise((res) => setTimeout(res, GRACE_SECONDS * 1000 + 200));
  }
  const runs = await dockerRunRounds(host, ['podnet'], opts.quick ? 3 : 6);
  return { endpoints: level, apiAttachMs: summarize(perAttach), dockerRunMs: summarize(runs.get('podnet') ?? []) };
}

/** Trials of bench/control-plane/veth-probe.js inside the host's network namespace. */
async function probeJoinKernel(host: TestHost, trials: number, count: number): Promise<{ emptyRequest: CallLatency; vethPair: CallLatency; spawnedIp: CallLatency }> {
  const empty: Map<string, number[]>[] = [];
  const veth: Map<string, number[]>[] = [];
  const spawned: Map<string, number[]>[] = [];
  for (let t = 0; t < trials; t++) {
    const r = await run(['ip', 'netns', 'exec', host.ns, process.execPath, path.join(__dirname, 'veth-probe.js'), String(count)], { timeoutMs: 120_000 });
    const d = JSON.parse(r.stdout) as { empty: number[]; veth: number[]; spawned: number[] };
    empty.push(new Map([['x', d.empty]]));
    veth.push(new Map([['x', d.veth]]));
    spawned.push(new Map([['x', d.spawned]]));
  }
  const pick = (l: Map<string, number[]>[]): CallLatency => {
    const c = perCallLatency(l)['x'];
    if (!c) throw new Error('veth probe: no samples');
    return c;
  };
  return { emptyRequest: pick(empty), vethPair: pick(veth), spawnedIp: pick(spawned) };
}

/** Wall times of `docker run --rm`, one per network per round; the order rotates each round. */
async function dockerRunRounds(host: TestHost, networks: readonly string[], rounds: number): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>(networks.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < networks.length; i++) {
      const net = networks[(r + i) % networks.length] as string;
      const start = process.hrtime.bigint();
      await docker(host, 'run', '--rm', '--network', net, TEST_IMAGE, 'true');
      times.get(net)?.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  return times;
}

/** Waits until kbr0 holds exactly `n` endpoint veths (Leave deletes them in the background). */
async function waitForVeths(host: TestHost, n: number): Promise<void> {
  let seen = -1;
  await waitFor(
    async () => {
      const r = await run(['ip', '-n', host.ns, '-o', 'link', 'show', 'master', 'kbr0']);
      seen = r.stdout.split('\n').filter((l) => / pn[0-9a-f]{12}@/.test(l)).length;
      return seen === n;
    },
    120_000,
    `kbr0 to hold ${n} endpoint veths (last seen ${seen})`,
  );
}

async function docker(host: TestHost, ...args: string[]): Promise<string> {
  const r = await host.docker(args, { allowFail: true, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr.trim()}\n--- podnet log ---\n${host.logs().slice(-2000)}`);
  return r.stdout.trim();
}
