/**
 * The two underlays of the benchmark, switched in place on the lab's veths (host eth0 and the
 * switch port facing it):
 * - 'veth': as the lab made them. A veth passes 64 KB segmentation-offload packets whole, which
 *   flatters tunnels (one encapsulation per 64 KB instead of per frame).
 * - 'wire': what a real NIC and wire carry (HOST-LAB.md): no TSO/GSO (also not for UDP tunnels),
 *   so frames are MTU-sized on the wire, and GRO on receive as real NICs do.
 */
import { run } from '../../test/harness/exec';
import { enterNet } from './measure';

export type UnderlayKind = 'veth' | 'wire';

/** ethtool -K name -> the feature's name in `ethtool -k` output. */
const FEATURES: Readonly<Record<string, string>> = {
  tso: 'tcp-segmentation-offload',
  gso: 'generic-segmentation-offload',
  'tx-udp_tnl-segmentation': 'tx-udp_tnl-segmentation',
  'tx-udp_tnl-csum-segmentation': 'tx-udp_tnl-csum-segmentation',
  gro: 'generic-receive-offload',
};

const WIRE: Readonly<Record<string, 'on' | 'off'>> = {
  tso: 'off',
  gso: 'off',
  'tx-udp_tnl-segmentation': 'off',
  'tx-udp_tnl-csum-segmentation': 'off',
  gro: 'on',
};

export interface UnderlayEnd {
  /** Network namespace file of the device. */
  readonly netns: string;
  readonly dev: string;
  /**
   * False for eth0 of an OVS userspace-datapath host: GRO there merges frames into super-packets
   * that OVS drops ("Too big"), so the administrator keeps it off (test/harness/ovs.ts).
   */
  readonly groAllowed: boolean;
}

async function features(end: UnderlayEnd): Promise<Map<string, string>> {
  const r = await run(enterNet(end.netns, ['ethtool', '-k', end.dev]));
  const have = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*([\w-]+): (on|off)/.exec(line);
    if (m && m[1] && m[2]) have.set(m[1], m[2]);
  }
  return have;
}

/** Switches a set of underlay devices between the two kinds; remembers how the lab made them. */
export class Underlay {
  private readonly original = new Map<UnderlayEnd, Record<string, string>>();
  kind: UnderlayKind = 'veth';

  constructor(private readonly ends: readonly UnderlayEnd[]) {}

  /** Record the lab's settings (the 'veth' kind). Call once, before the first set(). */
  async init(): Promise<void> {
    for (const end of this.ends) {
      const have = await features(end);
      const saved: Record<string, string> = {};
      for (const [short, long] of Object.entries(FEATURES)) {
        const v = have.get(long);
        if (v) saved[short] = v;
      }
      this.original.set(end, saved);
    }
  }

  async set(kind: UnderlayKind): Promise<void> {
    if (kind === this.kind) return;
    for (const end of this.ends) {
      const want = kind === 'wire' ? { ...WIRE, ...(end.groAllowed ? {} : { gro: 'off' }) } : (this.original.get(end) ?? {});
      const args = Object.entries(want).flatMap(([k, v]) => [k, v]);
      if (args.length) await run(enterNet(end.netns, ['ethtool', '-K', end.dev, ...args]));
    }
    this.kind = kind;
  }
}
