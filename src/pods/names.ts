/** The fixed names and labels of pod containers: `podnet pod ls` works from Docker alone. */

export const LABELS = {
  podName: 'io.podnet.pod.name',
  podNamespace: 'io.podnet.pod.namespace',
  role: 'io.podnet.role',
  container: 'io.podnet.container.name',
  /** On every container: a digest of what it was created from, so apply knows what changed. */
  specHash: 'io.podnet.spec-hash',
  /** On the infra container: the pod's host ports and which container asked for each (JSON). */
  hostPorts: 'io.podnet.pod.host-ports',
  /** On the infra container: the whole pod spec (JSON), so a watcher can recreate the pod from Docker alone. */
  spec: 'io.podnet.pod.spec',
} as const;

export type Role = 'infra' | 'app';

export function infraName(pod: string, namespace: string): string {
  return `podnet_POD_${pod}_${namespace}`;
}

export function appName(container: string, pod: string, namespace: string): string {
  return `podnet_${container}_${pod}_${namespace}`;
}
