/**
 * Hand-built pods for the reference paths: a network namespace with a veth whose other end sits in
 * a lab host. The namespace is named after the lab (`${lab.id}-...`), so lab.destroy() removes it
 * even if the benchmark dies before its own teardown.
 */
import { run } from '../../test/harness/exec';
import type { Lab } from '../../test/harness/lab';
import type { Endpoint } from './measure';

/** A lab node as the reference paths need it: its network namespace name and underlay address. */
export interface NodeNs {
  readonly ns: string;
  readonly ip: string;
}

export interface PodSpec {
  /** Short name, unique in the lab ([a-z0-9]{1,8}); also names the host-side veth (`v<name>`). */
  readonly name: string;
  /** The device in the host the host-side veth is attached to (a Linux bridge), or none. */
  readonly bridge?: string;
  /** Address with prefix length, e.g. 10.244.1.10/16. */
  readonly cidr: string;
  readonly gateway?: string;
  readonly mtu: number;
}

export interface HandPod extends Endpoint {
  readonly ns: string;
  /** The veth end left in the host. */
  readonly hostDev: string;
}

/** `ip -batch -` inside network namespace `ns` (one process for many steps). */
export async function ipBatch(ns: string, lines: readonly string[]): Promise<void> {
  await run(['ip', '-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 20_000 });
}

export async function sysctls(ns: string, settings: Readonly<Record<string, string>>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  await run(['nsenter', `--net=/run/netns/${ns}`, '--', 'sysctl', '-q', '-w', ...args]);
}

export async function addPod(lab: Lab, host: NodeNs, spec: PodSpec): Promise<HandPod> {
  if (!/^[a-z0-9]{1,8}$/.test(spec.name)) throw new Error(`bad pod name ${spec.name}`);
  const ns = `${lab.id}-${spec.name}`;
  const hostDev = `v${spec.name}`;
  await run(['ip', 'netns', 'add', ns]);
  await ipBatch(host.ns, [
    `link add ${hostDev} mtu ${spec.mtu} type veth peer name eth0 netns ${ns}`,
    ...(spec.bridge ? [`link set ${hostDev} master ${spec.bridge}`] : []),
    `link set ${hostDev} up`,
  ]);
  await ipBatch(ns, [
    'link set lo up',
    `link set eth0 mtu ${spec.mtu} up`,
    `addr add ${spec.cidr} dev eth0`,
    ...(spec.gateway ? [`route add default via ${spec.gateway}`] : []),
  ]);
  return { ns, hostDev, netns: `/run/netns/${ns}`, ip: spec.cidr.split('/')[0] as string };
}

/** Delete hand-built pods (their veths go with their namespaces). */
export async function removePods(pods: readonly HandPod[]): Promise<void> {
  for (const p of pods) await run(['ip', 'netns', 'delete', p.ns], { allowFail: true });
}

/** The MTU of `dev` inside a network namespace file. */
export async function mtuOf(netns: string, dev: string): Promise<number> {
  const r = await run(['nsenter', `--net=${netns}`, '--', 'ip', '-o', 'link', 'show', 'dev', dev]);
  const m = / mtu (\d+) /.exec(r.stdout);
  if (!m || !m[1]) throw new Error(`no MTU for ${dev} in ${netns}: ${r.stdout}`);
  return Number(m[1]);
}
