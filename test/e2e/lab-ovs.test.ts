/**
 * Self-test of the lab's Open vSwitch hosts: three test hosts, each running its own ovsdb-server
 * and ovs-vswitchd (userspace datapath) with the underlay on an OVS bridge brphy; underlay
 * reachability and whole 2 MB TCP transfers; the writeFile/ovsVsctl/ovsOfctl helpers; then a
 * stand-in for podnet's OVS dataplane (kbr0 <-veth-> obr0, a flow-based GRE, then VXLAN, tunnel
 * port, per-peer flows, a "pod" per host) carrying pod-to-pod TCP; and a teardown that leaves no
 * namespace, process or folder behind.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLab, listNetns, ovsLabSkipReason, pidAlive, OUTSIDE_IP, OUTSIDE_PUBLIC_IP, type Lab, type TestClient, type TestHost } from '../harness/lab';
import { UNDERLAY_NIC_FILTER_TABLE, USERSPACE_DP_OFFLOADS_OFF } from '../harness/ovs';
import { waitFor } from '../harness/exec';
import type { RunOptions, RunResult } from '../harness/exec';

const skip = ovsLabSkipReason();

/** Anything that runs commands: a host, a client, the outside router, or a pod on a host. */
interface Runner {
  readonly label: string;
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}
const node = (n: TestHost | TestClient): Runner => ({ label: n.name, exec: (argv, opts) => n.exec(argv, opts) });
/** The stand-in pod: network namespace `pod` created inside the host (as dockerd would). */
const pod = (h: TestHost): Runner => ({ label: `${h.name}/pod`, exec: (argv, opts) => h.exec(['ip', 'netns', 'exec', 'pod', ...argv], opts) });

const SUBNET = (n: number): string => `10.244.${n}`;
const VNI = 1;
/** Flow-based GRE (Ethernet 14 + IP 20 + GRE 4 + key 4) and VXLAN (14 + 20 + UDP 8 + 8) overheads. */
const MTU = { gre: 1500 - 42, vxlan: 1500 - 50 } as const;
/** OpenFlow port numbers on obr0 (ofport_request): the veth to kbr0 and the tunnel port. */
const OF_KBR = 1;
const OF_TUN = 2;

let nextPort = 9200;

async function waitListening(r: Runner, port: number): Promise<void> {
  await waitFor(async () => (await r.exec(['ss', '-Hltn', `sport = :${port}`])).stdout.includes(`:${port}`), 5000, `a listener on ${r.label}:${port}`);
}

/** Send `file` from `src` to `dstIp` on `dst` over TCP (socat); returns the size and sha256 the receiver saw. */
async function tcpTransfer(src: Runner, dst: Runner, dstIp: string, file: string): Promise<{ size: number; sha256: string; ms: number }> {
  const port = nextPort++;
  const t0 = Date.now();
  const f = `/run/podnet-xfer-${port}`; // the host's private /run
  const srv = dst.exec(['timeout', '20', 'sh', '-c', `socat -u -T 10 TCP-LISTEN:${port},reuseaddr CREATE:${f} && wc -c < ${f} && sha256sum < ${f}; rm -f ${f}`], {
    allowFail: true,
    timeoutMs: 25_000,
  });
  await waitListening(dst, port);
  const cli = await src.exec(['timeout', '20', 'socat', '-u', '-T', '10', 'STDIN', `TCP:${dstIp}:${port},connect-timeout=5`], { inputFile: file, allowFail: true, timeoutMs: 25_000 });
  const got = await srv;
  assert.equal(cli.code, 0, `${src.label} -> ${dst.label} (${dstIp}): sender failed: ${cli.stderr}`);
  assert.equal(got.code, 0, `${src.label} -> ${dst.label} (${dstIp}): receiver failed (${got.code}): ${got.stderr}`);
  const [size, sum] = got.stdout.trim().split(/\s+/);
  return { size: Number(size), sha256: sum ?? '', ms: Date.now() - t0 };
}

/** One iperf3 stream for `secs` seconds; Gbit/s received (diagnostic only). */
async function iperf(src: Runner, dst: Runner, dstIp: string, secs = 2): Promise<number> {
  const srv = dst.exec(['timeout', String(secs + 10), 'iperf3', '-s', '-1', '-p', '5201'], { allowFail: true, timeoutMs: 30_000 });
  await waitListening(dst, 5201);
  const r = await src.exec(['timeout', String(secs + 8), 'iperf3', '-c', dstIp, '-p', '5201', '-t', String(secs), '-J'], { allowFail: true, timeoutMs: 30_000 });
  await srv;
  try {
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return Math.round(j.end.sum_received.bits_per_second / 1e7) / 100;
  } catch {
    return 0;
  }
}

async function ping(r: Runner, ip: string, extra: string[] = []): Promise<boolean> {
  return (await r.exec(['ping', '-c', '1', '-W', '1', ...extra, ip], { allowFail: true, timeoutMs: 10_000 })).code === 0;
}

/**
 * The stand-in for podnet's node plumbing on host n: kbr0 (10.244.n.1/16), obr0 (netdev,
 * fail-mode secure) joined to kbr0 by the veth pair kbr0-ovs (in kbr0) / obr0-kbr (OVS port 1,
 * offloads off on both ends), and a pod (netns `pod`, veth pod0 <-> eth0, 10.244.n.2/16).
 */
async function plumbNode(h: TestHost, n: number, mtu: number): Promise<void> {
  const ip = (lines: string[]): Promise<RunResult> => h.exec(['ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
  await ip(['link add kbr0 type bridge', `addr add ${SUBNET(n)}.1/16 dev kbr0`, 'link set kbr0 up', 'link add kbr0-ovs type veth peer name obr0-kbr', 'link set kbr0-ovs master kbr0']);
  for (const dev of ['kbr0-ovs', 'obr0-kbr']) await h.exec(['ethtool', '-K', dev, ...USERSPACE_DP_OFFLOADS_OFF]);
  await ip(['link set kbr0-ovs up', 'link set obr0-kbr up']);
  await h.ovsVsctl([
    '--may-exist', 'add-br', 'obr0',
    '--', 'set', 'Bridge', 'obr0', 'datapath_type=netdev', 'fail-mode=secure',
    '--', '--may-exist', 'add-port', 'obr0', 'obr0-kbr',
    '--', 'set', 'Interface', 'obr0-kbr', `ofport_request=${OF_KBR}`,
  ]);
  await h.exec(['ip', 'netns', 'add', 'pod']);
  await ip(['link add pod0 type veth peer name eth0 netns pod', 'link set pod0 master kbr0 up']);
  await pod(h).exec(['ip', '-batch', '-'], { input: `link set lo up\nlink set eth0 up\naddr add ${SUBNET(n)}.2/16 dev eth0\nroute add default via ${SUBNET(n)}.1\n` });
  await setPodMtu(h, mtu);
}

/** Both ends of the pod's veth at `mtu` (kbr0 follows: a bridge takes its ports' smallest MTU). */
async function setPodMtu(h: TestHost, mtu: number): Promise<void> {
  await h.exec(['ip', 'link', 'set', 'pod0', 'mtu', String(mtu)]);
  await pod(h).exec(['ip', 'link', 'set', 'eth0', 'mtu', String(mtu)]);
}

/** The per-peer flows of the flow-based topology (one tunnel port, OF_TUN). */
function tunnelFlows(peers: { n: number; ip: string }[]): string {
  const lines: string[] = [];
  for (const p of peers) {
    const out = `actions=set_field:${VNI}->tun_id,set_field:${p.ip}->tun_dst,output:${OF_TUN}`;
    lines.push(`table=0,priority=100,in_port=${OF_KBR},ip,nw_dst=${SUBNET(p.n)}.0/24,${out}`);
    lines.push(`table=0,priority=100,in_port=${OF_KBR},arp,arp_tpa=${SUBNET(p.n)}.0/24,${out}`);
  }
  lines.push(`table=0,priority=100,in_port=${OF_TUN},tun_id=${VNI},actions=output:${OF_KBR}`);
  return lines.join('\n') + '\n';
}

/**
 * Replace obr0's tunnel port by a flow-based `type` port and atomically replace the flows.
 * Trap: deleting the old port and adding the new one with the same ofport_request in ONE
 * transaction silently gives the new port another number (the old one is still held while the
 * transaction is applied), so the flows' output:2 goes nowhere. Two transactions, then read back.
 */
async function setTunnel(h: TestHost, type: 'gre' | 'vxlan', peers: { n: number; ip: string }[]): Promise<void> {
  const other = type === 'gre' ? 'obr0-vxlan' : 'obr0-gre';
  await h.ovsVsctl(['--if-exists', 'del-port', 'obr0', other]);
  await h.ovsVsctl([
    '--may-exist', 'add-port', 'obr0', `obr0-${type}`,
    '--', 'set', 'Interface', `obr0-${type}`, `type=${type}`, 'options:remote_ip=flow', 'options:key=flow',
    ...(type === 'vxlan' ? ['options:dst_port=8472'] : []), `ofport_request=${OF_TUN}`,
  ]);
  for (const [iface, want] of [['obr0-kbr', OF_KBR], [`obr0-${type}`, OF_TUN]] as const) {
    const got = (await h.ovsVsctl(['get', 'Interface', iface, 'ofport'])).stdout.trim();
    assert.equal(Number(got), want, `${h.name}: ${iface} has ofport ${got}, not ${want}`);
  }
  await h.ovsOfctl(['-O', 'OpenFlow14', '--bundle', 'replace-flows', 'obr0', '-'], { input: tunnelFlows(peers) });
}

test('lab-ovs: three hosts with their own Open vSwitch; underlay on brphy; GRE and VXLAN pod-to-pod', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const t0 = Date.now();
  const lab: Lab = await createLab('pntovs');
  let destroyed = false;
  t.after(async () => {
    if (!destroyed) await lab.destroy();
  });
  const timings: Record<string, number> = {};
  const gbits: Record<string, number> = {};
  const mark = (k: string, since: number): void => {
    timings[k] = Date.now() - since;
  };
  const file = path.join(lab.dir, 'payload-2m.bin');
  fs.writeFileSync(file, crypto.randomBytes(2 * 1024 * 1024));
  const want = { size: 2 * 1024 * 1024, sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') };

  let s = Date.now();
  const [h1, h2, h3] = (await Promise.all([1, 2, 3].map((i) => lab.addHost(`host${i}`, { ovs: true })))) as [TestHost, TestHost, TestHost];
  mark('3 ovs hosts (parallel)', s);
  const client = await lab.addClient('client1');
  const hosts = [h1, h2, h3];

  await t.test('each host runs its own Open vSwitch with eth0 in brphy and the underlay address on brphy', async () => {
    const ids = new Set<string>();
    for (const h of hosts) {
      const pids = h.ovsPids;
      assert.ok(pids && pidAlive(pids.ovsdbServer) && pidAlive(pids.vswitchd), `${h.name}: ovs pids ${JSON.stringify(pids)}`);
      const show = (await h.ovsVsctl(['show'])).stdout;
      assert.match(show, /Bridge brphy\n\s+datapath_type: netdev[\s\S]*Port eth0\n\s+Interface eth0/, `${h.name}: ovs-vsctl show:\n${show}`);
      assert.deepEqual((await h.ovsVsctl(['list-ports', 'brphy'])).stdout.split('\n').filter(Boolean), ['eth0']);
      assert.equal((await h.ovsVsctl(['get', 'Open_vSwitch', '.', 'external_ids:hostname'])).stdout.trim().replace(/^"|"$/g, ''), h.name);
      ids.add((await h.ovsVsctl(['get', 'Open_vSwitch', '.', 'external_ids:system-id'])).stdout.trim());
      assert.ok(fs.statSync(path.join(h.hostPath('/etc/openvswitch'), 'conf.db')).size > 0, `${h.name}: its own conf.db`);
      assert.equal(h.underlayDev, 'brphy');
      // The underlay address and default route are on brphy; eth0 keeps no IPv4 address.
      assert.match((await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'brphy'])).stdout, new RegExp(`inet ${h.ip.replace(/\./g, '\\.')}/24 `));
      assert.equal((await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.trim(), '');
      assert.match((await h.exec(['ip', 'route', 'show', 'default'])).stdout, new RegExp(`default via ${OUTSIDE_IP.replace(/\./g, '\\.')} dev brphy`));
      // brphy carries eth0's MAC (neighbours' ARP caches stay right); offloads off on eth0.
      const mac = async (dev: string): Promise<string> => (await h.exec(['cat', `/sys/class/net/${dev}/address`])).stdout.trim();
      assert.equal(await mac('brphy'), await mac('eth0'));
      const k = (await h.exec(['ethtool', '-k', 'eth0'])).stdout;
      for (const feat of ['tx-checksumming', 'tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload']) {
        assert.match(k, new RegExp(`^${feat}: off`, 'm'), `${h.name}: eth0 ${feat}`);
      }
      // The kernel's own stack ignores eth0 (OVS alone takes its frames).
      await h.exec(['nft', 'list', 'table', 'netdev', UNDERLAY_NIC_FILTER_TABLE]);
      // OVS routes tunnel traffic to peers through brphy.
      assert.match((await h.ovsAppctl(['ovs/route/lookup', h === h1 ? h2.ip : h1.ip])).stdout, /dev brphy/);
    }
    assert.equal(ids.size, 3, 'each host has its own database (distinct system-ids)');
  });

  await t.test('underlay: ping, whole 2 MB TCP transfers between hosts, from a client and the outside router; egress TCP', async () => {
    s = Date.now();
    for (const [a, b] of [[h1, h2], [h2, h3], [h3, h1]] as const) {
      await waitFor(() => ping(node(a), b.ip), 5000, `${a.name} to ping ${b.name}`);
    }
    await waitFor(() => ping(node(client), h3.ip), 5000, 'client1 to ping host3');
    for (const [src, dst, ip] of [
      [node(h1), node(h2), h2.ip],
      [node(h2), node(h1), h1.ip],
      [node(client), node(h3), h3.ip],
      [node(h3), node(client), client.ip],
      [node(lab.outside), node(h1), h1.ip],
      [node(h2), node(lab.outside), OUTSIDE_PUBLIC_IP],
    ] as const) {
      const got = await tcpTransfer(src, dst, ip, file);
      assert.deepEqual({ size: got.size, sha256: got.sha256 }, want, `${src.label} -> ${dst.label} (${ip})`);
      timings[`2 MB ${src.label} -> ${dst.label}`] = got.ms;
    }
    // Egress: the outside router sees the host's own underlay address.
    const port = nextPort++;
    const srv = lab.outside.spawn(['socat', `TCP-LISTEN:${port},bind=${OUTSIDE_PUBLIC_IP},reuseaddr,fork`, 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitListening(node(lab.outside), port);
    const seen = await h3.exec(['socat', '-T', '3', '-', `TCP:${OUTSIDE_PUBLIC_IP}:${port}`], { input: '' });
    assert.equal(seen.stdout.trim(), h3.ip);
    process.kill(srv.pid, 'SIGTERM');
    await srv.exited;
    mark('underlay checks', s);
    gbits['underlay host1 -> host2 (brphy, OVS userspace both ends)'] = await iperf(node(h1), node(h2), h2.ip);
  });

  await t.test('writeFile, ovsVsctl, ovsOfctl, ovsAppctl', async () => {
    const cluster = JSON.stringify({ tunnel: 'gre', nodes: hosts.map((h, i) => ({ name: h.name, ip: h.ip, subnet: `${SUBNET(i + 1)}.0/24` })) }, null, 2) + '\n';
    await h1.writeFile('/etc/podnet/cluster.json', cluster);
    const outside = path.join(h1.hostPath('/etc/podnet'), 'cluster.json');
    assert.equal(fs.readFileSync(outside, 'utf8'), cluster);
    assert.equal((await h1.exec(['cat', '/etc/podnet/cluster.json'])).stdout, cluster);
    assert.equal(fs.statSync(outside).mode & 0o777, 0o644);
    // A rewrite replaces the file by rename (new inode), as an editor does; no temporary file stays.
    const ino = fs.statSync(outside).ino;
    await h1.writeFile('/etc/podnet/cluster.json', cluster.replace('"gre"', '"vxlan"'), { mode: 0o600 });
    assert.notEqual(fs.statSync(outside).ino, ino);
    assert.equal(fs.statSync(outside).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(outside, 'utf8'), /"vxlan"/);
    assert.deepEqual(fs.readdirSync(h1.hostPath('/etc/podnet')), ['cluster.json']);
    assert.notEqual((await h2.exec(['test', '-e', '/etc/podnet/cluster.json'], { allowFail: true })).code, 0, 'host2 must not see host1 /etc/podnet');
    await h1.writeFile('/etc/podnet/sub/dir/x.txt', 'x');
    assert.equal((await h1.exec(['cat', '/etc/podnet/sub/dir/x.txt'])).stdout, 'x');
    await assert.rejects(h1.writeFile('relative.txt', 'x'), /not an absolute path/);
    // The wrappers talk to the host's own daemons.
    await h2.ovsVsctl(['add-br', 'scratch0', '--', 'set', 'Bridge', 'scratch0', 'datapath_type=netdev']);
    await h2.ovsOfctl(['add-flow', 'scratch0', 'priority=5,actions=drop']);
    assert.match((await h2.ovsOfctl(['dump-flows', 'scratch0'])).stdout, /priority=5 actions=drop/);
    assert.notEqual((await h1.ovsVsctl(['br-exists', 'scratch0'], { allowFail: true })).code, 0, 'host1 must not see host2 bridges');
    await h2.ovsVsctl(['del-br', 'scratch0']);
    assert.match((await h2.ovsAppctl(['version'])).stdout, /ovs-vswitchd/);
  });

  // The stand-in for podnet's OVS dataplane on host1 (10.244.1.0/24) and host2 (10.244.2.0/24).
  s = Date.now();
  await Promise.all([plumbNode(h1, 1, MTU.gre), plumbNode(h2, 2, MTU.gre)]);
  mark('kbr0 + obr0 + pod on 2 hosts', s);
  const pod1 = pod(h1);
  const pod2 = pod(h2);

  for (const type of ['gre', 'vxlan'] as const) {
    await t.test(`${type}: flow-based tunnel port, per-peer flows, pod-to-pod ping and whole 2 MB TCP`, async () => {
      s = Date.now();
      await Promise.all([setTunnel(h1, type, [{ n: 2, ip: h2.ip }]), setTunnel(h2, type, [{ n: 1, ip: h1.ip }])]);
      mark(`${type}: tunnel port + flows on 2 hosts`, s);
      const flows = (await h1.ovsOfctl(['dump-flows', 'obr0'])).stdout;
      assert.equal(flows.split('\n').filter((l) => l.includes('priority=100')).length, 3, flows);
      if (type === 'vxlan') {
        // Still at the GRE MTU: a full-size packet does not fit VXLAN's 50 bytes and is dropped
        // silently (no ICMP "fragmentation needed" from the userspace datapath).
        await waitFor(() => ping(pod1, `${SUBNET(2)}.2`), 10_000, 'pod1 -> pod2 small ping over vxlan');
        assert.equal(await ping(pod1, `${SUBNET(2)}.2`, ['-M', 'do', '-s', String(MTU.gre - 28)]), false, `a ${MTU.gre}-byte packet must not pass VXLAN`);
        await Promise.all([setPodMtu(h1, MTU.vxlan), setPodMtu(h2, MTU.vxlan)]);
      }
      const mtu = MTU[type];
      s = Date.now();
      // The first packet to a new tunnel peer may be lost while OVS resolves its MAC: retry.
      await waitFor(() => ping(pod1, `${SUBNET(2)}.2`), 10_000, `pod1 -> pod2 over ${type}`);
      mark(`${type}: first pod-to-pod ping`, s);
      assert.ok(await ping(pod2, `${SUBNET(1)}.2`), 'pod2 -> pod1');
      assert.ok(await ping(pod1, `${SUBNET(2)}.2`, ['-M', 'do', '-s', String(mtu - 28)]), `a full ${mtu}-byte packet, DF set`);
      assert.ok(await ping(node(h1), `${SUBNET(2)}.2`), 'node1 -> pod2');
      for (const [src, dst, ip] of [
        [pod1, pod2, `${SUBNET(2)}.2`],
        [pod2, pod1, `${SUBNET(1)}.2`],
        [node(h1), pod2, `${SUBNET(2)}.2`],
      ] as const) {
        const got = await tcpTransfer(src, dst, ip, file);
        assert.deepEqual({ size: got.size, sha256: got.sha256 }, want, `${type}: ${src.label} -> ${dst.label}`);
        timings[`${type}: 2 MB ${src.label} -> ${dst.label}`] = got.ms;
      }
      // No NAT: the receiving pod sees the sending pod's own address.
      const port = nextPort++;
      const srv = pod2.exec(['timeout', '10', 'socat', '-T', '5', `TCP-LISTEN:${port},reuseaddr`, 'SYSTEM:echo $SOCAT_PEERADDR'], { allowFail: true });
      await waitListening(pod2, port);
      const seen = await pod1.exec(['socat', '-T', '3', '-', `TCP:${SUBNET(2)}.2:${port}`], { input: '' });
      await srv;
      assert.equal(seen.stdout.trim(), `${SUBNET(1)}.2`);
      gbits[`pod1 -> pod2 over ${type} (MTU ${mtu})`] = await iperf(pod1, pod2, `${SUBNET(2)}.2`);
      // The tunnel really carried it (and not some other path).
      // vswitchd writes statistics to the database every 5 s: poll.
      let tun = '';
      await waitFor(async () => {
        tun = (await h1.ovsVsctl(['get', 'Interface', `obr0-${type}`, 'statistics:tx_packets'])).stdout.trim();
        return Number(tun) > 1000;
      }, 12_000, `obr0-${type} tx_packets > 1000 (last ${tun})`);
    });
  }

  await t.test('destroy leaves no namespace, process or folder behind', async () => {
    // A long-lived process in each pod, standing in for a container.
    const sleepers = [h1, h2].map((h) => h.spawn(['ip', 'netns', 'exec', 'pod', 'sleep', '1000']));
    await waitFor(async () => sleepers.every((p) => fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'sleep'), 5000, 'pod sleepers');
    const podNetns = new Set(sleepers.map((p) => fs.readlinkSync(`/proc/${p.pid}/ns/net`)));
    const holderMntns = new Set(hosts.map((h) => fs.readlinkSync(`/proc/${h.holderPid}/ns/mnt`)));
    const pids = new Set<number>(sleepers.map((p) => p.pid));
    for (const h of hosts) {
      pids.add(h.holderPid);
      const o = h.ovsPids;
      assert.ok(o);
      pids.add(o.ovsdbServer).add(o.vswitchd);
    }
    for (const n of [...hosts, client, lab.outside]) for (const p of await n.pids()) pids.add(p);
    assert.equal((await lab.namespaces()).length, 6); // sw, out, host1-3, client1
    s = Date.now();
    await lab.destroy();
    destroyed = true;
    mark('destroy', s);
    assert.deepEqual((await listNetns()).filter((ns) => ns.startsWith(lab.id)), []);
    const alive = [...pids].filter(pidAlive);
    assert.deepEqual(alive, [], `processes still alive: ${alive.join(' ')}`);
    // Nothing on the machine is left in a pod's network namespace or a host's mount namespace.
    const holders: string[] = [];
    for (const ent of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(ent)) continue;
      try {
        if (podNetns.has(fs.readlinkSync(`/proc/${ent}/ns/net`)) || holderMntns.has(fs.readlinkSync(`/proc/${ent}/ns/mnt`))) holders.push(ent);
      } catch {
        /* gone */
      }
    }
    assert.deepEqual(holders, [], `processes in a pod netns or host mount namespace: ${holders.join(' ')}`);
    assert.ok(!fs.existsSync(lab.dir), `${lab.dir} still exists`);
  });

  mark('total', t0);
  t.diagnostic(`timings (ms): ${JSON.stringify(timings)}`);
  t.diagnostic(`iperf3, 1 stream, 2 s (Gbit/s): ${JSON.stringify(gbits)}`);
});
