/** The performance targets, checked against one run, with the measurement behind a miss. */
import type { ControlPlaneResult, TargetCheck } from './types';

const fmt = (n: number, d = 2): string => n.toFixed(d);

export function checkTargets(cp: ControlPlaneResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  const check = (t: Omit<TargetCheck, 'met'>): void => {
    const met = t.kind === 'max' ? t.measured <= t.limit : t.measured >= t.limit;
    out.push({ ...t, met });
  };

  const a = cp.attach;
  check({
    id: 'attach',
    statement: 'container attach: podnet/bridge <= 1.0 (median of docker run --rm wall time)',
    measured: a.podnetOverBridge.median,
    limit: 1.0,
    kind: 'max',
    note:
      `podnet ${fmt(a.podnet.median, 0)} ms vs bridge ${fmt(a.bridge.median, 0)} ms (${fmt((a.podnetOverBridge.median - 1) * 100, 0)}% over). ` +
      `A user-defined bridge network takes ${fmt(a.userBridge.median, 0)} ms (${fmt(a.userBridge.median / a.bridge.median)}x the default bridge): ` +
      `podnet/user-defined bridge = ${fmt(a.podnetOverUserBridge.median)}. Docker starts its embedded DNS resolver (iptables rules in the ` +
      'container namespace) for every user-defined network, podnet\'s included, and not for the default bridge; that share is Docker\'s.',
  });

  const seq = cp.api.find((r) => r.mode === 'sequential');
  if (seq) {
    const worst = Object.entries(seq.perCall).sort((x, y) => y[1].p99.median - x[1].p99.median)[0];
    if (worst) {
      check({
        id: 'api-p99',
        statement: 'plugin API, sequential: p99 < 5 ms per call (worst call, median over trials)',
        measured: worst[1].p99.median,
        limit: 5,
        kind: 'max',
        note:
          `${worst[0]} p99 ${fmt(worst[1].p99.median)} ms (p50 ${fmt(worst[1].p50.median)}). A call that does nothing (GetCapabilities) has p99 ` +
          `${fmt(cp.apiBaseline.p99.median)} ms (p50 ${fmt(cp.apiBaseline.p50.median)}) on the same socket: the HTTP round trip between two Node processes ` +
          `and the scheduling of this machine take that much of any call. Join adds the kernel's work: the veth pair it makes takes p50 ` +
          `${fmt(cp.joinKernel.vethPair.p50.median)} ms, p99 ${fmt(cp.joinKernel.vethPair.p99.median)} ms through podnet's ip session ` +
          `(an empty request on that session: p99 ${fmt(cp.joinKernel.emptyRequest.p99.median)} ms).`,
      });
    }
  }

  const l0 = cp.nodeScale.find((l) => l.endpoints === 0);
  const l1000 = cp.nodeScale.find((l) => l.endpoints === 1000);
  if (l0 && l1000) {
    check({
      id: 'node-scale',
      statement: 'attach cost with 1000 endpoints present <= 1.2 x with 0 (RequestAddress+CreateEndpoint+Join, median)',
      measured: l1000.apiAttachMs.median / l0.apiAttachMs.median,
      limit: 1.2,
      kind: 'max',
      note: `attach ${fmt(l0.apiAttachMs.median)} ms at 0, ${fmt(l1000.apiAttachMs.median)} ms at 1000; docker run ${fmt(l0.dockerRunMs.median, 0)} / ${fmt(l1000.dockerRunMs.median, 0)} ms.`,
    });
  }

  const cs = cp.clusterScale.find((c) => c.topology === 'flow');
  if (cs) {
    check({
      id: 'cluster-add',
      statement: `one node added to a ${cs.peers}-peer cluster applied < 1 s (file written -> flows in, slowest trial)`,
      measured: cs.addNodeMs.max / 1000,
      limit: 1,
      kind: 'max',
      note: `median ${fmt(cs.addNodeMs.median, 0)} ms; a full reconcile with ${cs.baselinePeers} peers takes ${fmt(cs.baselineReconcileMs.median, 0)} ms, a pass with nothing to change ${fmt(cs.steadyReconcileLoggedMs.median, 0)} ms (logged).`,
    });
    check({
      id: 'cluster-reconcile',
      statement: `full reconcile of ${cs.peers} peers < 5 s (obr0 removed, SIGHUP -> every flow back, slowest trial)`,
      measured: cs.fullReconcileMs.max / 1000,
      limit: 5,
      kind: 'max',
      note: `median ${fmt(cs.fullReconcileMs.median, 0)} ms (${fmt(cs.fullReconcileLoggedMs.median, 0)} ms as logged by podnet).`,
    });
    check({
      id: 'cluster-rss',
      statement: `plugin RSS with ${cs.peers} peers < 100 MB`,
      measured: Math.max(...cp.clusterScale.map((c) => c.rssMb)),
      limit: 100,
      kind: 'max',
      note: `${fmt(cs.rssBaselineMb, 1)} MB with ${cs.baselinePeers} peers.`,
    });
  }
  return out;
}
