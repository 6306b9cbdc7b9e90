/**
 * Open vSwitch inside a lab test host, run the way a real node runs it: its own database and
 * daemons at their default paths (/etc/openvswitch/conf.db, /run/openvswitch/db.sock,
 * /var/log/openvswitch), which the host's private mount namespace makes per-host.
 *
 * And the administrator's preparation of a userspace-datapath (netdev) node: the underlay NIC
 * eth0 in an OVS bridge brphy, the underlay address and default route moved onto brphy, and the
 * offloads that the userspace datapath cannot take turned off (see shared/HOST-LAB.md).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor, WaitAbort, type RunOptions, type RunResult } from './exec';
import type { SpawnOptions, Spawned } from './lab';

export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
export const OVS_DB = '/etc/openvswitch/conf.db';
export const OVS_RUNDIR = '/run/openvswitch';
export const OVS_DB_SOCK = `${OVS_RUNDIR}/db.sock`;
export const OVS_LOGDIR = '/var/log/openvswitch';

/** The OVS bridge that holds the underlay NIC on a userspace-datapath host. */
export const UNDERLAY_BRIDGE = 'brphy';
/** The underlay NIC of every test host. */
export const UNDERLAY_NIC = 'eth0';

/**
 * `ethtool -K DEV ...` arguments for a device whose frames the OVS userspace datapath reads
 * (through an AF_PACKET socket, which hands OVS the kernel's skb as it is): no partial checksums
 * (tx), no super-packets (tso, gso), no receive coalescing into super-packets (gro). Never for
 * pod veths or kernel-only paths.
 * What is load-bearing where (measured, see test/e2e/lab-ovs.test.ts):
 * - the kbr0-side end of a kbr0<->obr0 veth pair: `tx off` (TSO/GSO then go off with it). Without
 *   it, ping works but TCP never even completes its handshake (pod segments keep a partial
 *   checksum through the tunnel and the far kernel drops them as bad). The obr0-side end's
 *   settings make no difference (OVS writes whole, checksummed frames).
 * - eth0 in brphy: `gro off` (on, a veth/NIC merges received segments into super-packets that OVS
 *   drops: "eth0: Dropped packet: Too big. GRO/TSO enabled?"). veths start with gro off; real
 *   NICs with gro on. tx/tso/gso on eth0 make no difference (only OVS sends on it).
 */
export const USERSPACE_DP_OFFLOADS_OFF: readonly string[] = ['tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'];

/**
 * `ethtool -K PORT ...` for the lab switch's port that faces a brphy host (the far end of the
 * host's eth0, i.e. the wire): it then hands eth0 what a real wire delivers, MTU-sized frames with
 * complete checksums, whoever sent them. Needed for TCP from a client or the outside router (their
 * kernels send partial checksums and TSO super-packets through the veths): without it such TCP
 * never connects. `tx off` is the load-bearing part (TSO follows it). Host-to-host traffic between
 * two brphy hosts does not need it (OVS sends whole frames).
 */
export const WIRE_PORT_OFFLOADS_OFF: readonly string[] = ['tx', 'off', 'tso', 'off', 'gso', 'off'];

/** What ovs.ts needs of a test host. */
export interface OvsHostLike {
  readonly name: string;
  readonly ip: string;
  readonly logDir: string;
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  spawn(argv: readonly string[], opts?: SpawnOptions): Spawned;
}

export interface OvsProcesses {
  ovsdbServer: Spawned;
  vswitchd: Spawned;
}

export interface StartOvsOptions {
  /** How long to wait for each daemon. Default 20 s. */
  timeoutMs?: number;
}

function tailText(s: string, max = 3000): string {
  return s.length > max ? '...' + s.slice(s.length - max) : s;
}

function readTail(file: string): string {
  try {
    return tailText(fs.readFileSync(file, 'utf8'));
  } catch {
    return '(none)';
  }
}

/**
 * Create the database if missing, start ovsdb-server and ovs-vswitchd in the foreground (their
 * pids are the spawned processes' pids; --pidfile still writes /run/openvswitch/*.pid, which
 * ovs-appctl uses to find the daemons), `ovs-vsctl --no-wait init`, and wait until vswitchd has
 * applied a configuration change and `ovs-vsctl show` answers.
 * `ovsLogDir` is the host's /var/log/openvswitch seen from outside (for error messages).
 */
export async function startOvs(h: OvsHostLike, ovsLogDir: string, opts: StartOvsOptions = {}): Promise<OvsProcesses> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  await h.exec(['mkdir', '-p', OVS_RUNDIR, OVS_LOGDIR]);
  if ((await h.exec(['test', '-s', OVS_DB], { allowFail: true })).code !== 0) {
    await h.exec(['ovsdb-tool', 'create', OVS_DB, OVS_SCHEMA]);
  }
  const ovsdbServer = h.spawn(
    [
      'ovsdb-server',
      OVS_DB,
      `--remote=punix:${OVS_DB_SOCK}`,
      '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
      `--pidfile=${OVS_RUNDIR}/ovsdb-server.pid`,
      `--log-file=${OVS_LOGDIR}/ovsdb-server.log`,
      '-vconsole:warn',
      '-vsyslog:off',
      '--no-chdir',
    ],
    { logFile: path.join(h.logDir, 'ovsdb-server.out') },
  );
  const failed = (what: string) => (err: Error): never => {
    throw new Error(`${err.message}\n${what} log:\n${readTail(path.join(ovsLogDir, `${what}.log`))}\nconsole:\n${readTail(path.join(h.logDir, `${what}.out`))}`);
  };
  await waitFor(
    async () => {
      if (ovsdbServer.hasExited) throw new WaitAbort(`ovsdb-server exited: ${JSON.stringify(await ovsdbServer.exited)}`);
      return (await h.exec(['ovs-vsctl', '--timeout=2', 'show'], { allowFail: true, timeoutMs: 5000 })).code === 0;
    },
    timeoutMs,
    `ovsdb-server on ${h.name}`,
  ).catch(failed('ovsdb-server'));
  await h.exec(['ovs-vsctl', '--no-wait', 'init']);
  const vswitchd = h.spawn(
    [
      'ovs-vswitchd',
      `unix:${OVS_DB_SOCK}`,
      `--pidfile=${OVS_RUNDIR}/ovs-vswitchd.pid`,
      `--log-file=${OVS_LOGDIR}/ovs-vswitchd.log`,
      '-vconsole:warn',
      '-vsyslog:off',
      '--no-chdir',
    ],
    { logFile: path.join(h.logDir, 'ovs-vswitchd.out') },
  );
  await waitFor(
    async () => {
      if (vswitchd.hasExited) throw new WaitAbort(`ovs-vswitchd exited: ${JSON.stringify(await vswitchd.exited)}`);
      return (await h.exec(['ovs-appctl', '--timeout=2', '-t', 'ovs-vswitchd', 'version'], { allowFail: true, timeoutMs: 5000 })).code === 0;
    },
    timeoutMs,
    `ovs-vswitchd on ${h.name}`,
  ).catch(failed('ovs-vswitchd'));
  // Without --no-wait, ovs-vsctl waits until vswitchd has applied the change: vswitchd is connected.
  const systemId = crypto.randomUUID();
  await h
    .exec(['ovs-vsctl', `--timeout=${Math.ceil(timeoutMs / 1000)}`, 'set', 'Open_vSwitch', '.', `external_ids:hostname=${h.name}`, `external_ids:system-id=${systemId}`], {
      timeoutMs: timeoutMs + 5000,
    })
    .catch(failed('ovs-vswitchd'));
  await h.exec(['ovs-vsctl', '--timeout=5', 'show']);
  // The pid files name the daemons we spawned (nsenter exec()s them: same pid).
  for (const [p, file] of [
    [ovsdbServer, 'ovsdb-server.pid'],
    [vswitchd, 'ovs-vswitchd.pid'],
  ] as const) {
    const got = (await h.exec(['cat', `${OVS_RUNDIR}/${file}`])).stdout.trim();
    if (Number(got) !== p.pid) throw new Error(`${h.name}: ${OVS_RUNDIR}/${file} says ${got}, but the spawned daemon is pid ${p.pid}`);
  }
  return { ovsdbServer, vswitchd };
}

export interface PrepareUnderlayOptions {
  /** `ethtool -K eth0` arguments (default USERSPACE_DP_OFFLOADS_OFF; [] for none). */
  nicOffloads?: readonly string[];
  /** `ethtool -K <switch port>` arguments (default WIRE_PORT_OFFLOADS_OFF; [] for none). */
  wireOffloads?: readonly string[];
  /**
   * Keep the kernel's own stack off eth0 (default true): an nftables `netdev` table
   * UNDERLAY_NIC_FILTER_TABLE whose ingress chain on eth0 drops everything. See nicIngressDropRules().
   */
  kernelIgnoresNic?: boolean;
  /** How long to wait for the outside router to answer through brphy. Default 10 s. */
  timeoutMs?: number;
}

/** The nftables table (family netdev) that keeps the kernel stack off the underlay NIC. */
export const UNDERLAY_NIC_FILTER_TABLE = 'ovs-underlay-nic';

/**
 * `nft -f -` text that makes the kernel drop every frame received on `nic` at the netdev ingress
 * hook. With the userspace datapath, OVS reads the NIC through an AF_PACKET socket, which does
 * not steal the frames from the kernel (the kernel datapath's rx_handler does): without this the
 * kernel also takes them in on eth0 (weak host model: the host's address is "local" whichever
 * device holds it) and every packet for the host arrives twice, once straight from eth0 and once
 * through OVS and brphy; forwarded traffic would be duplicated, and OVS's own drops (e.g. of
 * super-packets) are hidden. Open vSwitch's userspace install guide says the same (it suggests
 * `iptables -A INPUT/FORWARD -i eth0 -j DROP`; the ingress hook also stops ARP and IPv6 and is
 * untouched by Docker's and podnet's iptables chains). AF_PACKET taps run before the ingress
 * hook, so OVS still receives everything.
 */
export function nicIngressDropRules(nic: string): string {
  return [
    `table netdev ${UNDERLAY_NIC_FILTER_TABLE} {`,
    `  chain ingress {`,
    `    type filter hook ingress device "${nic}" priority filter; policy drop;`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** What prepareUnderlayOnOvs() needs besides OvsHostLike: the lab switch side. */
export interface UnderlaySide {
  /** Run ethtool (etc.) in the switch namespace. */
  switchExec(argv: readonly string[]): Promise<RunResult>;
  /** The switch port (veth) whose peer is the host's eth0. */
  switchPort: string;
  /** Prefix length of the underlay. */
  prefixLen: number;
  /** The default gateway (the outside router). */
  gateway: string;
}

/**
 * The administrator's preparation of a userspace-datapath host (idempotent):
 *   (lab switch, the "wire") ethtool -K <port facing eth0> tx off tso off gso off
 *   ethtool -K eth0 tx off tso off gso off gro off
 *   ovs-vsctl --may-exist add-br brphy -- set Bridge brphy datapath_type=netdev
 *             other-config:hwaddr="<eth0 MAC>" -- --may-exist add-port brphy eth0
 *   nft -f - <<< nicIngressDropRules('eth0')     (the kernel stack ignores eth0)
 *   ip addr del IP/24 dev eth0; ip addr add IP/24 dev brphy; ip link set brphy up
 *   ip route replace default via 192.168.200.1 dev brphy
 * then waits until the outside router answers a ping through brphy. brphy and its address
 * survive an ovs-vswitchd restart (OVS keeps its tap devices); OpenFlow flows do not.
 */
export async function prepareUnderlayOnOvs(h: OvsHostLike, side: UnderlaySide, opts: PrepareUnderlayOptions = {}): Promise<void> {
  const cidr = `${h.ip}/${side.prefixLen}`;
  const onBrphy = await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', UNDERLAY_BRIDGE], { allowFail: true });
  if (onBrphy.code === 0 && onBrphy.stdout.includes(`inet ${cidr} `)) return;
  const nicOffloads = opts.nicOffloads ?? USERSPACE_DP_OFFLOADS_OFF;
  const wireOffloads = opts.wireOffloads ?? WIRE_PORT_OFFLOADS_OFF;
  if (wireOffloads.length) await side.switchExec(['ethtool', '-K', side.switchPort, ...wireOffloads]);
  if (nicOffloads.length) await h.exec(['ethtool', '-K', UNDERLAY_NIC, ...nicOffloads]);
  const mac = (await h.exec(['cat', `/sys/class/net/${UNDERLAY_NIC}/address`])).stdout.trim();
  await h.exec([
    'ovs-vsctl',
    '--timeout=20',
    '--may-exist',
    'add-br',
    UNDERLAY_BRIDGE,
    '--',
    'set',
    'Bridge',
    UNDERLAY_BRIDGE,
    'datapath_type=netdev',
    `other-config:hwaddr="${mac}"`,
    '--',
    '--may-exist',
    'add-port',
    UNDERLAY_BRIDGE,
    UNDERLAY_NIC,
  ]);
  if (opts.kernelIgnoresNic ?? true) {
    await h.exec(['nft', '-f', '-'], { input: nicIngressDropRules(UNDERLAY_NIC) });
  }
  const onNic = await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', UNDERLAY_NIC]);
  const batch = [
    ...(onNic.stdout.includes(`inet ${cidr} `) ? [`addr del ${cidr} dev ${UNDERLAY_NIC}`] : []),
    `addr replace ${cidr} dev ${UNDERLAY_BRIDGE}`,
    `link set ${UNDERLAY_BRIDGE} up`,
    `route replace default via ${side.gateway} dev ${UNDERLAY_BRIDGE}`,
  ];
  await h.exec(['ip', '-batch', '-'], { input: batch.join('\n') + '\n' });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  await waitFor(
    async () => (await h.exec(['ping', '-c', '1', '-W', '1', side.gateway], { allowFail: true })).code === 0,
    timeoutMs,
    `${h.name} to reach ${side.gateway} through ${UNDERLAY_BRIDGE}`,
  );
}

/** Shell script of writeFile(): content on stdin, "$1" the path, "$2" the mode (octal). */
export const WRITE_FILE_SCRIPT = [
  'set -e',
  'd=$(dirname -- "$1"); b=$(basename -- "$1")',
  'mkdir -p -- "$d"',
  't="$d/.$b.tmp.$$"',
  'trap \'rm -f -- "$t"\' EXIT',
  'cat > "$t"',
  'chmod "$2" "$t"',
  'mv -f -- "$t" "$1"',
  'trap - EXIT',
].join('\n');
