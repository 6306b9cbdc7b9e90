/**
 * A node in a large cluster: a cluster file with hundreds of peers that exist only as
 * configuration (198.18.0.0/15, the benchmarking range, routed nowhere but the lab's own
 * namespaces). Full reconcile, one added node, OVS ports and flows, and the plugin's memory.
 */
import { readFileSync } from 'node:fs';
import type { Lab, TestHost } from '../../test/harness/lab';
import { waitFor } from '../../test/harness/exec';
import { summarize } from '../stats';
import type { BenchOptions, ClusterScale } from '../types';
import { PluginApi } from './plugin-api';

const SOCKET = '/run/docker/plugins/podnet.sock';
const CLUSTER_FILE = '/etc/podnet/cluster.json';
const NETWORK_ID = 'b'.repeat(64);

/** Peer i (1-based): its configuration-only underlay address and its pod subnet. */
function peer(i: number): { name: string; ip: string; subnet: string } {
  return { name: `peer${i}`, ip: `198.18.${i >> 8}.${i & 255}`, subnet: `10.244.${i + 1}.0/24` };
}

function clusterFile(host: TestHost, peers: number, topology: 'flow' | 'mesh'): string {
  const nodes = [{ name: host.name, ip: host.ip, subnet: '10.244.1.0/24' }];
  for (let i = 1; i <= peers; i++) nodes.push(peer(i));
  return JSON.stringify({ clusterCIDR: '10.244.0.0/16', tunnel: 'gre', topology, vni: 7, nodes });
}

/** True once obr0 carries peer i (flow: its flows are in; mesh: its tunnel port exists). */
async function carries(host: TestHost, i: number, topology: 'flow' | 'mesh'): Promise<boolean> {
  const p = peer(i);
  if (topology === 'flow') {
    const r = await host.ovsOfctl(['-O', 'OpenFlow14', 'dump-flows', 'obr0', '--no-stats'], { allowFail: true });
    return r.code === 0 && r.stdout.includes(`nw_dst=${p.subnet}`);
  }
  const hex = p.ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  const r = await host.ovsVsctl(['list-ports', 'obr0'], { allowFail: true });
  return r.code === 0 && r.stdout.split('\n').includes(`pnt-${hex}`);
}

/**
 * Ms from the start of `act` until `done` holds, polled back to back (each poll is a program run
 * of ~10-30 ms, the resolution of this measure; a backing-off wait would add up to its interval).
 */
async function timeUntil(what: string, act: () => Promise<void>, done: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = process.hrtime.bigint();
  await act();
  for (;;) {
    if (await done()) return Number(process.hrtime.bigint() - start) / 1e6;
    if (Number(process.hrtime.bigint() - start) / 1e6 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The "reconciled in N ms" lines podnet logged after `from` (a log length). */
function loggedReconciles(host: TestHost, from: number): number[] {
  return [...host.logs().slice(from).matchAll(/reconciled in ([\d.]+) ms/g)].map((m) => Number(m[1]));
}

/** Removes obr0 by hand and sends SIGHUP: podnet rebuilds the whole overlay. */
async function fullReconcile(host: TestHost, pid: number, peers: number, topology: 'flow' | 'mesh', timeoutMs: number): Promise<{ outside: number; logged: number }> {
  await host.ovsVsctl(['--if-exists', 'del-br', 'obr0']);
  await host.exec(['ip', 'link', 'del', 'podnet-kbr'], { allowFail: true });
  const from = host.logs().length;
  const outside = await timeUntil(`obr0 rebuilt with ${peers} peers`, async () => {
    process.kill(pid, 'SIGHUP');
  }, () => carries(host, peers, topology), timeoutMs);
  await waitFor(async () => loggedReconciles(host, from).length > 0, timeoutMs, 'the reconcile to log its time');
  return { outside, logged: loggedReconciles(host, from)[0] as number };
}

export async function runClusterScale(lab: Lab, topology: 'flow' | 'mesh', peers: number, opts: BenchOptions): Promise<ClusterScale> {
  const host = await lab.addHost(topology === 'flow' ? 'csflow' : 'csmesh', { ovs: true });
  const baselinePeers = 2;
  const trials = opts.quick ? 2 : 3;
  const timeoutMs = 120_000;
  await host.writeFile(CLUSTER_FILE, clusterFile(host, baselinePeers, topology));
  const { pid } = await host.startPodnet();
  const api = new PluginApi(host.viewPath(SOCKET));
  try {
    // The overlay exists while a network does: create one the way Docker does.
    await api.call('IpamDriver.RequestPool', { AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: {}, V6: false });
    await api.call('NetworkDriver.CreateNetwork', {
      NetworkID: NETWORK_ID,
      Options: { 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16', AuxAddresses: {} }],
      IPv6Data: [],
    });
    await waitFor(() => carries(host, baselinePeers, topology), timeoutMs, 'the baseline overlay');
    const baseline: number[] = [];
    for (let t = 0; t < trials; t++) baseline.push((await fullReconcile(host, pid, baselinePeers, topology, timeoutMs)).outside);
    const rssBaselineMb = rssMb(pid);

    opts.log(`control plane: cluster of ${peers} peers (${topology})`);
    await host.writeFile(CLUSTER_FILE, clusterFile(host, peers, topology));
    await waitFor(() => carries(host, peers, topology), timeoutMs, `the overlay with ${peers} peers`);
    const full: number[] = [];
    const fullLogged: number[] = [];
    for (let t = 0; t < trials; t++) {
      const r = await fullReconcile(host, pid, peers, topology, timeoutMs);
      full.push(r.outside);
      fullLogged.push(r.logged);
    }
    // A pass with nothing to change, as the 30 s timer runs it.
    const steady: number[] = [];
    for (let t = 0; t < trials; t++) {
      const from = host.logs().length;
      process.kill(pid, 'SIGHUP');
      await waitFor(async () => loggedReconciles(host, from).length > 0, timeoutMs, 'a steady reconcile');
      steady.push(loggedReconciles(host, from)[0] as number);
    }
    // One node added through the file, as an administrator does it (written by rename).
    const add: number[] = [];
    for (let t = 0; t < trials + 2; t++) {
      add.push(await timeUntil('the added node', () => host.writeFile(CLUSTER_FILE, clusterFile(host, peers + 1, topology)), () => carries(host, peers + 1, topology), timeoutMs));
      await host.writeFile(CLUSTER_FILE, clusterFile(host, peers, topology));
      await waitFor(async () => !(await carries(host, peers + 1, topology)), timeoutMs, 'the added node removed again');
    }
    const ports = (await host.ovsVsctl(['list-ports', 'obr0'])).stdout.split('\n').filter(Boolean).length;
    const flows = (await host.ovsOfctl(['-O', 'OpenFlow14', 'dump-flows', 'obr0', '--no-stats'])).stdout.split('\n').filter((l) => l.includes('actions=')).length;
    return {
      peers,
      topology,
      fullReconcileMs: summarize(full),
      fullReconcileLoggedMs: summarize(fullLogged),
      baselinePeers,
      baselineReconcileMs: summarize(baseline),
      addNodeMs: summarize(add),
      steadyReconcileLoggedMs: summarize(steady),
      ovsPorts: ports,
      ovsFlows: flows,
      rssBaselineMb,
      rssMb: rssMb(pid),
    };
  } finally {
    api.close();
  }
}

