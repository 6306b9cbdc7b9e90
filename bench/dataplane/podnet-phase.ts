/**
 * Phase B: two test hosts prepared as userspace-datapath Open vSwitch nodes (eth0 in brphy, the
 * underlay address on brphy), each with its own dockerd (default firewall) and real podnet
 * (bin/podnet.js serve) reading /etc/podnet/cluster.json. Pods are Docker containers on the
 * network `docker network create -d podnet --ipam-driver podnet podnet`.
 *
 * The network's MTU is fixed when it is created, so every tunnel/topology variant is a rebuild on
 * the same hosts: containers and network removed, podnet restarted with a new cluster file (a few
 * seconds; fresh hosts would cost ~20 s each).
 *
 * The kbr0 -> obr0 hop is measured on one node, on podnet's own bridges while the gre/mesh variant
 * runs (obr0 is then a NORMAL learning switch, so a namespace plugged into obr0 is reachable):
 *   kbr0-only   pod -> kbr0 -> pod                                  (kernel bridge only)
 *   kbr0-obr0   pod -> kbr0 -> podnet-kbr=podnet-obr -> obr0 -> ns  (what each podnet packet pays to enter OVS)
 *   obr0-only   ns -> obr0 -> ns                                    (OVS userspace only, no kbr0 hop)
 */
import { createLab, type Lab, type TestHost } from '../../test/harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../../test/harness/images';
import { run } from '../../test/harness/exec';
import { containerEndpoint, docker } from './docker';
import { USERSPACE_DP_OFFLOADS_OFF } from '../../test/harness/ovs';
import { enterNet } from './measure';
import { addPod, mtuOf, removePods, type HandPod } from './netns';
import { destroyLab, type Plan } from './plan';
import { Underlay } from './underlay';

interface Variant {
  readonly tunnel: 'gre' | 'vxlan';
  readonly topology: 'flow' | 'mesh';
}

const VARIANTS: readonly Variant[] = [
  { tunnel: 'gre', topology: 'flow' },
  { tunnel: 'vxlan', topology: 'flow' },
  { tunnel: 'gre', topology: 'mesh' },
  { tunnel: 'vxlan', topology: 'mesh' },
];
/** The variant whose obr0 carries the local hop measurements (NORMAL forwarding, ports may be added). */
const HOP_VARIANT: Variant = { tunnel: 'gre', topology: 'mesh' };
export const LOCAL_PATHS = ['kbr0-only', 'kbr0-obr0', 'obr0-only'] as const;
export const PODNET_PATHS = ['underlay-brphy', ...VARIANTS.map(pathId), ...LOCAL_PATHS];

const NETWORK = 'podnet';

function pathId(v: Variant): string {
  return `podnet-${v.tunnel}-${v.topology}`;
}

interface Ctx {
  readonly lab: Lab;
  readonly hosts: readonly [TestHost, TestHost];
  readonly underlay: Underlay;
  readonly plan: Plan;
}

/** Seen here: 20 pings at 10 ms gave ~550 us host to host over brphy, a flood ping ~160 us, 200 ms spacing ~830 us. */
const OVS_LATENCY_NOTE =
  'ping includes ovs-vswitchd waking up after 10 ms idle (userspace datapath, non-PMD ports); back-to-back packets take several times less';

const WIRE_NOTE =
  'OVS host: eth0 keeps tx/tso/gso/gro off (the userspace datapath needs it), so wire-like differs from veth only at the switch port (GRO on, tunnel segmentation off)';

function clusterFile(v: Variant, hosts: readonly TestHost[]): string {
  return JSON.stringify({
    clusterCIDR: '10.244.0.0/16',
    tunnel: v.tunnel,
    topology: v.topology,
    vni: 1,
    nodes: hosts.map((h, i) => ({ name: h.name, ip: h.ip, subnet: `10.244.${i + 1}.0/24` })),
  });
}

/** podnet up on both nodes with a fresh network and pods: pa on n1, pb on n2, and pc on n1 if asked. */
async function bringUp(ctx: Ctx, v: Variant, withLocalPeer: boolean): Promise<void> {
  const [n1, n2] = ctx.hosts;
  await Promise.all(ctx.hosts.map((h) => h.writeFile('/etc/podnet/cluster.json', clusterFile(v, ctx.hosts))));
  await Promise.all(ctx.hosts.map((h) => h.startPodnet()));
  await Promise.all(ctx.hosts.map((h) => docker(h, ['network', 'create', '-d', 'podnet', '--ipam-driver', 'podnet', NETWORK])));
  const runPod = (h: TestHost, name: string): Promise<string> => docker(h, ['run', '-d', '--name', name, '--network', NETWORK, TEST_IMAGE, 'sleep', '3600']);
  await Promise.all([runPod(n1, 'pa'), runPod(n2, 'pb'), ...(withLocalPeer ? [runPod(n1, 'pc')] : [])]);
}

async function tearDown(ctx: Ctx): Promise<void> {
  for (const h of ctx.hosts) {
    const ids = (await h.docker(['ps', '-aq'], { allowFail: true })).stdout.split(/\s+/).filter(Boolean);
    if (ids.length) await docker(h, ['rm', '-f', ...ids]);
    if (h.podnetPid === undefined) continue;
    // The last podnet network takes kbr0, obr0 and the tunnels with it: the next variant starts clean.
    await h.docker(['network', 'rm', NETWORK], { allowFail: true });
    await h.stopPodnet();
  }
}

async function underlayOnBrphy(ctx: Ctx): Promise<void> {
  const [n1, n2] = ctx.hosts;
  await ctx.plan.measureOnUnderlays(
    ctx.underlay,
    'underlay-brphy',
    'underlay via OVS brphy (host to host)',
    { netns: `/run/netns/${n1.ns}`, ip: n1.ip },
    { netns: `/run/netns/${n2.ns}`, ip: n2.ip },
    `host -> brphy (tap) -> OVS userspace -> eth0 and back up on the other host: what every podnet packet pays before any pod-side hop; ${OVS_LATENCY_NOTE}`,
    WIRE_NOTE,
  );
}

async function crossHost(ctx: Ctx, v: Variant): Promise<void> {
  const [n1, n2] = ctx.hosts;
  const a = await containerEndpoint(n1, 'pa', NETWORK);
  const b = await containerEndpoint(n2, 'pb', NETWORK);
  const mtu = await mtuOf(a.netns, 'eth0');
  await ctx.plan.measureOnUnderlays(
    ctx.underlay,
    pathId(v),
    `podnet ${v.tunnel.toUpperCase()} ${v.topology}`,
    a,
    b,
    `podnet (Docker containers), ${v.tunnel} ${v.topology === 'flow' ? 'flow-based tunnel port' : 'tunnel port per peer, RSTP'}, pod MTU ${mtu}, OVS userspace datapath (netdev), underlay on brphy; ${OVS_LATENCY_NOTE}`,
    WIRE_NOTE,
  );
}

/** Plug a namespace straight into obr0 (an administrator's port: podnet leaves it alone). */
async function podOnObr0(ctx: Ctx, name: string, ip: string, mtu: number): Promise<HandPod> {
  const n1 = ctx.hosts[0];
  const pod = await addPod(ctx.lab, n1, { name, cidr: `${ip}/16`, mtu });
  for (const [netns, dev] of [[pod.netns, 'eth0'], [`/run/netns/${n1.ns}`, pod.hostDev]] as const) {
    await run(enterNet(netns, ['ethtool', '-K', dev, ...USERSPACE_DP_OFFLOADS_OFF]));
  }
  await n1.ovsVsctl([
    'add-port', 'obr0', pod.hostDev,
    '--', 'set', 'port', pod.hostDev, 'other_config:rstp-port-admin-edge=true', 'other_config:rstp-port-auto-edge=false',
  ]);
  return pod;
}

async function localHops(ctx: Ctx): Promise<void> {
  if (!ctx.plan.wantsAny(...LOCAL_PATHS)) return;
  const n1 = ctx.hosts[0];
  const a = await containerEndpoint(n1, 'pa', NETWORK);
  const c = await containerEndpoint(n1, 'pc', NETWORK);
  const mtu = await mtuOf(a.netns, 'eth0');
  const pods: HandPod[] = [];
  try {
    pods.push(await podOnObr0(ctx, 'ob1', '10.244.1.250', mtu));
    pods.push(await podOnObr0(ctx, 'ob2', '10.244.1.251', mtu));
    const [o1, o2] = pods as [HandPod, HandPod];
    const same = `same node, pod MTU ${mtu}; the underlay is not on this path`;
    await ctx.underlay.set('veth');
    await ctx.plan.measure({ path: 'kbr0-only', label: 'same node: kbr0 only', underlay: 'veth', client: a, server: c, notes: `${same}; pod -> kbr0 -> pod, two podnet containers` });
    await ctx.plan.measure({
      path: 'kbr0-obr0',
      label: 'same node: kbr0 -> obr0',
      underlay: 'veth',
      client: a,
      server: o1,
      notes: `${same}; pod -> kbr0 -> podnet-kbr/podnet-obr veth -> obr0 (podnet's gre/mesh obr0, NORMAL) -> a namespace whose veth has offloads off (the userspace datapath needs it); ${OVS_LATENCY_NOTE}`,
    });
    await ctx.plan.measure({
      path: 'obr0-only',
      label: 'same node: obr0 only',
      underlay: 'veth',
      client: o1,
      server: o2,
      notes: `${same}; namespace -> obr0 -> namespace (veths with offloads off): OVS without the kbr0 hop; ${OVS_LATENCY_NOTE}`,
    });
  } finally {
    for (const p of pods) await n1.ovsVsctl(['--if-exists', 'del-port', 'obr0', p.hostDev]).catch(() => undefined);
    await removePods(pods);
  }
}

function isHopVariant(v: Variant): boolean {
  return v.tunnel === HOP_VARIANT.tunnel && v.topology === HOP_VARIANT.topology;
}

async function runVariant(ctx: Ctx, v: Variant): Promise<void> {
  const hops = isHopVariant(v) && ctx.plan.wantsAny(...LOCAL_PATHS);
  if (!ctx.plan.wantsAny(pathId(v)) && !hops) return;
  ctx.plan.log(`dataplane: podnet hosts: ${v.tunnel}/${v.topology}`);
  try {
    await bringUp(ctx, v, hops);
    await crossHost(ctx, v);
    if (hops) await localHops(ctx);
  } catch (err) {
    const reason = `podnet ${v.tunnel}/${v.topology} setup failed: ${(err as Error).message.split('\n')[0]}`;
    ctx.plan.abandon([pathId(v), ...(hops ? LOCAL_PATHS : [])], reason);
  } finally {
    await tearDown(ctx);
  }
}

export async function runPodnetPhase(plan: Plan): Promise<void> {
  if (!plan.wantsAny(...PODNET_PATHS)) return;
  let lab: Lab | undefined;
  try {
    lab = await createLab('pnbench');
    const l = lab;
    // In parallel: each host's Open vSwitch and dockerd start-up is mostly waiting.
    const hosts = (await Promise.all(['n1', 'n2'].map((n) => l.addHost(n, { docker: true, ovs: true })))) as [TestHost, TestHost];
    await Promise.all(hosts.map((h) => ensureTestImage(h)));
    const underlay = new Underlay(
      hosts.flatMap((h) => [
        { netns: `/run/netns/${h.ns}`, dev: 'eth0', groAllowed: false },
        { netns: `/run/netns/${l.switchNs}`, dev: h.switchPort, groAllowed: true },
      ]),
    );
    await underlay.init();
    const ctx: Ctx = { lab, hosts, underlay, plan };
    await underlayOnBrphy(ctx);
    for (const v of VARIANTS) await runVariant(ctx, v);
  } catch (err) {
    plan.abandon(PODNET_PATHS, `podnet-host lab failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await destroyLab(lab, plan.log);
  }
}
