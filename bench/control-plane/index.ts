import { createLab, dockerLabSkipReason, ovsLabSkipReason, type Lab } from '../../test/harness/lab';
import { ratio } from '../stats';
import type { BenchOptions, ClusterScale, ControlPlaneResult } from '../types';
import { runClusterScale } from './cluster-scale';
import { runNodeBench } from './node';

/** Peers in the cluster-scale case (the 250). */
export const CLUSTER_PEERS = 250;

/**
 * The control plane, in test hosts of its own lab: attach through Docker, the plugin API, node
 * scale, cluster scale. Each part that cannot run here is listed in `skipped` with the reason.
 */
export async function runControlPlane(opts: BenchOptions): Promise<ControlPlaneResult> {
  const started = Date.now();
  const skipped: { part: string; reason: string }[] = [];
  const noDocker = dockerLabSkipReason();
  const noOvs = ovsLabSkipReason();
  let lab: Lab | undefined;
  try {
    lab = await createLab('pnbc');
    if (noDocker) throw new Error(`the control-plane benchmark needs Docker: ${noDocker}`);
    const node = await runNodeBench(lab, opts);
    const clusterScale: ClusterScale[] = [];
    if (noOvs) {
      skipped.push({ part: 'cluster scale', reason: noOvs });
    } else {
      clusterScale.push(await runClusterScale(lab, 'flow', CLUSTER_PEERS, opts));
      if (opts.quick) skipped.push({ part: `cluster scale, mesh topology (${CLUSTER_PEERS} tunnel ports)`, reason: 'quick mode' });
      else clusterScale.push(await runClusterScale(lab, 'mesh', CLUSTER_PEERS, opts));
    }
    return {
      attach: {
        ...node.attach,
        podnetOverBridge: ratio(node.attach.podnet, node.attach.bridge),
        podnetOverUserBridge: ratio(node.attach.podnet, node.attach.userBridge),
      },
      apiBaseline: node.apiBaseline,
      api: node.api,
      joinKernel: node.joinKernel,
      nodeScale: node.nodeScale,
      clusterScale,
      skipped,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await lab?.destroy();
  }
}
