/**
 * Data-plane benchmark: pod-to-pod throughput and latency across two lab hosts, for podnet's
 * tunnel/topology variants and for reference paths built on the same kind of hosts.
 *
 * Two phases, each with its own lab (created and destroyed by the phase, also on failure):
 *   A. plain kernel hosts: underlay, direct-routing, kernel-vxlan, docker-overlay
 *   B. Open vSwitch userspace-datapath hosts running podnet: underlay-brphy, podnet-{gre,vxlan}-{flow,mesh},
 *      and on one node the kbr0 -> obr0 hop (kbr0-only, kbr0-obr0, obr0-only)
 * They are separate because Docker's overlay and kernel VXLAN both want UDP 4789, and an OVS
 * bridge holding the underlay address takes all tunnel traffic sent to that address.
 * All traffic stays between the labs' namespaces (test/harness/lab.ts).
 */
import type { BenchOptions, DataPlaneResult } from '../types';
import { KERNEL_PATHS, runKernelPhase } from './kernel-phase';
import type { Timing } from './measure';
import { Plan, type CaseId } from './plan';
import { LOCAL_PATHS, PODNET_PATHS, runPodnetPhase } from './podnet-phase';
import type { UnderlayKind } from './underlay';

const FULL: Timing = { trials: 3, tcpSeconds: 2, rrSeconds: 1, pings: 20 };
const QUICK: Timing = { trials: 2, tcpSeconds: 1, rrSeconds: 1, pings: 20 };

/** Quick mode: the veth underlay and the paths the report's headline ratios need. */
const QUICK_PATHS: ReadonlySet<string> = new Set(['underlay', 'direct-routing', 'kernel-vxlan', 'podnet-gre-flow']);

const ALL_PATHS: readonly string[] = [...KERNEL_PATHS, ...PODNET_PATHS];

function planCases(quick: boolean): { wanted: CaseId[]; skipped: { c: CaseId; reason: string }[] } {
  const wanted: CaseId[] = [];
  const skipped: { c: CaseId; reason: string }[] = [];
  for (const path of ALL_PATHS) {
    for (const underlay of ['veth', 'wire'] as UnderlayKind[]) {
      const c = { path, underlay };
      if ((LOCAL_PATHS as readonly string[]).includes(path) && underlay === 'wire') {
        skipped.push({ c, reason: 'same-node path: no underlay on it (measured once, under veth)' });
      } else if (quick && (underlay === 'wire' || !QUICK_PATHS.has(path))) {
        skipped.push({ c, reason: 'quick mode' });
      } else {
        wanted.push(c);
      }
    }
  }
  return { wanted, skipped };
}

export async function runDataPlane(opts: BenchOptions): Promise<DataPlaneResult> {
  const start = process.hrtime.bigint();
  if (process.getuid?.() !== 0) throw new Error('the data-plane benchmark needs root (network namespaces)');
  const { wanted, skipped } = planCases(opts.quick);
  const plan = new Plan(wanted, opts.quick ? QUICK : FULL, opts.log);
  for (const s of skipped) plan.skipped.push({ path: s.c.path, underlay: s.c.underlay, reason: s.reason });
  await runKernelPhase(plan);
  await runPodnetPhase(plan);
  plan.leftovers();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  opts.log(`dataplane: ${plan.paths.length} path(s) measured, ${plan.skipped.length} skipped, ${seconds.toFixed(0)} s`);
  return { paths: plan.paths, skipped: plan.skipped, seconds };
}
