/**
 * Phase A: two plain kernel hosts (underlay address on eth0, no Open vSwitch).
 *   underlay        host to host: the physical limit every other path is divided by
 *   direct-routing  pods on a Linux bridge, a route per peer /24 via the peer's underlay IP
 *   kernel-vxlan    pods on a Linux bridge with a kernel VXLAN port (UDP 4789) to the peer
 *   docker-overlay  Docker's swarm overlay (also VXLAN on 4789: runs after kernel-vxlan is gone)
 * Each reference path is built, measured on both underlays, and torn down before the next, so
 * they never share addresses or UDP ports.
 */
import { createLab, type Lab, type TestHost } from '../../test/harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../../test/harness/images';
import { containerEndpoint, docker } from './docker';
import type { Endpoint } from './measure';
import { addPod, ipBatch, removePods, sysctls, type HandPod } from './netns';
import { destroyLab, type Plan } from './plan';
import { Underlay } from './underlay';

export const KERNEL_PATHS = ['underlay', 'direct-routing', 'kernel-vxlan', 'docker-overlay'] as const;

const VXLAN_MTU = 1450; // 1500 - 50 (outer Ethernet 14, IP 20, UDP 8, VXLAN 8)
const OVERLAY_NET = 'benchov';

interface Ctx {
  readonly lab: Lab;
  readonly hosts: readonly [TestHost, TestHost];
  readonly underlay: Underlay;
  readonly plan: Plan;
}

function hostEndpoint(h: TestHost): Endpoint {
  return { netns: `/run/netns/${h.ns}`, ip: h.ip };
}

async function underlayPath(ctx: Ctx): Promise<void> {
  const [h1, h2] = ctx.hosts;
  await ctx.plan.measureOnUnderlays(ctx.underlay, 'underlay', 'underlay: host to host (eth0)', hostEndpoint(h1), hostEndpoint(h2), 'MTU 1500, no encapsulation');
}

async function directRouting(ctx: Ctx): Promise<void> {
  const [h1, h2] = ctx.hosts;
  const pods: HandPod[] = [];
  try {
    for (const [i, h, peer] of [[1, h1, h2], [2, h2, h1]] as const) {
      const j = 3 - i;
      await ipBatch(h.ns, [
        'link add drbr type bridge',
        `addr add 10.244.${i}.1/16 dev drbr`,
        'link set drbr up',
        `route add 10.244.${j}.0/24 via ${peer.ip} dev eth0`,
      ]);
      // Pods see the whole /16 on-link and ARP for remote pods: the bridge answers for them at once.
      await sysctls(h.ns, { 'net.ipv4.conf.drbr.proxy_arp': '1', 'net.ipv4.neigh.drbr.proxy_delay': '0', 'net.ipv4.ip_forward': '1' });
      pods.push(await addPod(ctx.lab, h, { name: `dr${i}`, bridge: 'drbr', cidr: `10.244.${i}.10/16`, gateway: `10.244.${i}.1`, mtu: 1500 }));
    }
    const [p1, p2] = pods as [HandPod, HandPod];
    await ctx.plan.measureOnUnderlays(ctx.underlay, 'direct-routing', 'direct routing (L3, no encapsulation)', p1, p2, 'pods on a Linux bridge, a route per peer /24 via its underlay IP, proxy ARP on the bridge; MTU 1500, routed by both hosts');
  } finally {
    await removePods(pods);
    for (const h of ctx.hosts) await ipBatch(h.ns, ['link del drbr']).catch(() => undefined);
  }
}

async function kernelVxlan(ctx: Ctx): Promise<void> {
  const [h1, h2] = ctx.hosts;
  const pods: HandPod[] = [];
  try {
    for (const [i, h, peer] of [[1, h1, h2], [2, h2, h1]] as const) {
      await ipBatch(h.ns, [
        'link add vxbr type bridge',
        `link add vx0 type vxlan id 42 dstport 4789 local ${h.ip} remote ${peer.ip} dev eth0`,
        'link set vx0 master vxbr up',
        'link set vxbr up',
      ]);
      pods.push(await addPod(ctx.lab, h, { name: `vx${i}`, bridge: 'vxbr', cidr: `10.244.${i}.10/16`, mtu: VXLAN_MTU }));
    }
    const [p1, p2] = pods as [HandPod, HandPod];
    await ctx.plan.measureOnUnderlays(ctx.underlay, 'kernel-vxlan', 'kernel VXLAN + Linux bridge', p1, p2, `pods on a Linux bridge with a kernel VXLAN port (UDP 4789, VNI 42), pod MTU ${VXLAN_MTU}, L2 across hosts`);
  } finally {
    await removePods(pods);
    for (const h of ctx.hosts) await ipBatch(h.ns, ['link del vx0', 'link del vxbr']).catch(() => undefined);
  }
}

async function dockerOverlay(ctx: Ctx): Promise<void> {
  const [h1, h2] = ctx.hosts;
  // dockerd starts only now: its firewall (FORWARD DROP, br_netfilter) would tax the hand-built paths.
  await Promise.all(ctx.hosts.map((h) => h.startDocker({ timeoutMs: 60_000 })));
  await Promise.all(ctx.hosts.map((h) => ensureTestImage(h)));
  await docker(h1, ['swarm', 'init', '--advertise-addr', h1.ip]);
  const token = await docker(h1, ['swarm', 'join-token', '-q', 'worker']);
  await docker(h2, ['swarm', 'join', '--advertise-addr', h2.ip, '--token', token, `${h1.ip}:2377`]);
  await docker(h1, ['network', 'create', '-d', 'overlay', '--attachable', OVERLAY_NET]);
  for (const [h, name] of [[h1, 'ovpa'], [h2, 'ovpb']] as const) {
    await docker(h, ['run', '-d', '--name', name, '--network', OVERLAY_NET, TEST_IMAGE, 'sleep', '3600'], 120_000);
  }
  const a = await containerEndpoint(h1, 'ovpa', OVERLAY_NET);
  const b = await containerEndpoint(h2, 'ovpb', OVERLAY_NET);
  await ctx.plan.measureOnUnderlays(ctx.underlay, 'docker-overlay', 'Docker overlay (swarm)', a, b, "Docker 20.10 overlay (kernel VXLAN in Docker's sandbox namespace, UDP 4789), MTU 1450, dockerd default firewall");
}

export async function runKernelPhase(plan: Plan): Promise<void> {
  if (!plan.wantsAny(...KERNEL_PATHS)) return;
  let lab: Lab | undefined;
  try {
    lab = await createLab('pnbench');
    const switchNs = lab.switchNs;
    // Forwarding on from the start: the direct-routing hosts route, and a dockerd started later
    // then leaves the FORWARD policy at ACCEPT (test/harness/lab.ts).
    const h1 = await lab.addHost('k1', { ipForward: true });
    const h2 = await lab.addHost('k2', { ipForward: true });
    const ends = [h1, h2].flatMap((h) => [
      { netns: `/run/netns/${h.ns}`, dev: 'eth0', groAllowed: true },
      { netns: `/run/netns/${switchNs}`, dev: h.switchPort, groAllowed: true },
    ]);
    const underlay = new Underlay(ends);
    await underlay.init();
    const ctx: Ctx = { lab, hosts: [h1, h2], underlay, plan };
    const steps: [string, (c: Ctx) => Promise<void>][] = [
      ['underlay', underlayPath],
      ['direct-routing', directRouting],
      ['kernel-vxlan', kernelVxlan],
      ['docker-overlay', dockerOverlay],
    ];
    for (const [path, step] of steps) {
      if (!plan.wantsAny(path)) continue;
      plan.log(`dataplane: kernel hosts: ${path}`);
      try {
        await step(ctx);
      } catch (err) {
        plan.abandon([path], `setup failed: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  } catch (err) {
    plan.abandon([...KERNEL_PATHS], `kernel-host lab failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await destroyLab(lab, plan.log);
  }
}
