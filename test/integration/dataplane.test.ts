/*
 * The real plugin process in a throwaway network namespace ("the node"), driven over its socket
 * exactly as Docker would, with pods emulated the way Docker builds them (the returned veth moved
 * into a namespace as eth0). Asserts kernel state and real packets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callOk, callPlugin, hexId } from '../support/plugin-client';
import { NetnsPlugin, TestNetns } from '../support/netns-plugin';
import { sleep, waitFor } from '../harness/exec';

const isRoot = process.getuid?.() === 0;
const P = `pnit${process.pid % 10000}`;
const NET = hexId('network-1');
const POOL = 'podnet-10.244.0.0/16';

interface Pod {
  ns: TestNetns;
  endpointId: string;
  ip: string;
}

describe('dataplane on a real kernel (plugin in a test namespace)', { skip: isRoot ? false : 'needs root' }, () => {
  let node: TestNetns;
  let outside: TestNetns;
  let plugin: NetnsPlugin;
  const pods: Pod[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'podnet-it-data-'));
  const sock = (): string => plugin.socket;

  before(async () => {
    node = await TestNetns.create(`${P}-node`);
    outside = await TestNetns.create(`${P}-out`);
    // The node's uplink: 192.168.77.1 <-> "outside" 192.168.77.2, which also holds 203.0.113.1.
    await node.ip(['link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    await node.ip(['addr', 'add', '192.168.77.1/24', 'dev', 'ul0']);
    await node.ip(['link', 'set', 'ul0', 'up']);
    await node.ip(['route', 'add', 'default', 'via', '192.168.77.2']);
    await outside.ip(['addr', 'add', '192.168.77.2/24', 'dev', 'eth0']);
    await outside.ip(['addr', 'add', '203.0.113.1/32', 'dev', 'lo']);
    await outside.ip(['link', 'set', 'eth0', 'up']);
    plugin = new NetnsPlugin(node);
    await plugin.start();
  });

  after(async () => {
    for (const p of pods) await p.ns.destroy();
    await plugin?.destroy();
    await outside?.destroy();
    await node?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Docker's docker-run sequence, then what Docker does with the returned interface. */
  async function startPod(tag: string, ports: object[] = [], address = ''): Promise<Pod> {
    const endpointId = hexId(tag);
    const addr = (await callOk(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: address, Options: null }))['Address'] as string;
    await callOk(sock(), 'NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: endpointId, Interface: { Address: addr }, Options: {} });
    const join = (await callOk(sock(), 'NetworkDriver.Join', { NetworkID: NET, EndpointID: endpointId, SandboxKey: '', Options: {} })) as {
      InterfaceName: { SrcName: string };
      Gateway: string;
    };
    const ns = await TestNetns.create(`${P}-${tag}`);
    await node.ip(['link', 'set', join.InterfaceName.SrcName, 'netns', ns.name]);
    await ns.ip(['link', 'set', join.InterfaceName.SrcName, 'name', 'eth0']);
    await ns.ip(['addr', 'add', addr, 'dev', 'eth0']);
    await ns.ip(['link', 'set', 'eth0', 'up']);
    await ns.ip(['route', 'add', 'default', 'via', join.Gateway]);
    if (ports.length > 0) {
      await callOk(sock(), 'NetworkDriver.ProgramExternalConnectivity', {
        NetworkID: NET,
        EndpointID: endpointId,
        Options: { 'com.docker.network.portmap': ports },
      });
    }
    const pod = { ns, endpointId, ip: addr.split('/')[0] as string };
    pods.push(pod);
    return pod;
  }

  /** A TCP server in ns answering every connection with the address it saw. */
  async function echoPeerServer(ns: TestNetns, port: number): Promise<void> {
    ns.spawn(['socat', `TCP-LISTEN:${port},fork,reuseaddr`, 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitFor(async () => (await ns.exec(['ss', '-ltn', `sport = :${port}`])).stdout.includes('LISTEN'), 5000, `listener on ${port}`);
  }

  async function fetchPeer(ns: TestNetns, host: string, port: number): Promise<string> {
    const r = await ns.exec(['socat', '-T3', '-', `TCP:${host}:${port},connect-timeout=3`], { input: '', allowFail: true, timeoutMs: 8000 });
    return r.stdout.trim() || `(failed: ${r.stderr.trim()})`;
  }

  test('network create builds kbr0 with the cluster mask, forwarding, and podnet chains first in the built-in chains', async () => {
    const pool = await callOk(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'podnet-local', Pool: '', SubPool: '', Options: null, V6: false });
    assert.equal(pool['PoolID'], POOL);
    await callOk(sock(), 'NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'podnet-local', Pool: '0.0.0.0/0', Gateway: '10.244.1.1/16', AuxAddresses: null }],
      IPv6Data: [],
    });
    const addrs = await node.ipJson<{ addr_info: { local: string; prefixlen: number }[]; operstate: string }>(['addr', 'show', 'dev', 'kbr0']);
    assert.ok(addrs[0]?.addr_info.some((a) => a.local === '10.244.1.1' && a.prefixlen === 16), 'kbr0 holds 10.244.1.1/16');
    const routes = await node.ip(['route', 'show', '10.244.0.0/16']);
    assert.match(routes, /10\.244\.0\.0\/16 dev kbr0/);
    assert.equal((await node.exec(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
    assert.equal((await node.exec(['cat', '/proc/sys/net/ipv4/conf/kbr0/route_localnet'])).stdout.trim(), '1');
    const save = (await node.exec(['iptables-save'])).stdout;
    const firstForward = save.split('\n').find((l) => l.startsWith('-A FORWARD '));
    assert.equal(firstForward, '-A FORWARD -j PODNET-FORWARD', 'the jump is the first FORWARD rule');
    assert.match(save, /-A POSTROUTING -j PODNET-POSTROUTING/);
    assert.match(save, /-A PODNET-POSTROUTING -s 10\.244\.0\.0\/16 ! -d 10\.244\.0\.0\/16 -j MASQUERADE/);
  });

  test('Join makes a veth pair: host end on kbr0 with the computed MTU, the other end for Docker', async () => {
    const pod = await startPod('pod1', [
      { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
      { Proto: 17, IP: '', Port: 9000, HostIP: '', HostPort: 9000, HostPortEnd: 9000 },
    ]);
    assert.equal(pod.ip, '10.244.1.2');
    const host = (await node.ipJson<{ ifname: string; mtu: number; master?: string; operstate: string }>(['link', 'show', 'dev', `pn${pod.endpointId.slice(0, 12)}`]))[0];
    assert.ok(host, 'host-side veth exists');
    assert.equal(host.master, 'kbr0');
    assert.equal(host.mtu, 1500 - 42, 'underlay 1500 minus flow-based GRE overhead');
    const eth0 = (await pod.ns.ipJson<{ mtu: number; address: string }>(['link', 'show', 'dev', 'eth0']))[0];
    assert.equal(eth0?.mtu, 1458);
    assert.equal(eth0?.address, '02:42:0a:f4:01:02');
    const ping = await pod.ns.exec(['ping', '-c1', '-W2', '10.244.1.1'], { allowFail: true });
    assert.equal(ping.code, 0, `pod reaches its gateway: ${ping.stdout}`);
  });

  test('pods reach each other without NAT, and reach outside masqueraded', async () => {
    const pod1 = pods[0] as Pod;
    const pod2 = await startPod('pod2');
    await echoPeerServer(pod1.ns, 8081);
    assert.equal(await fetchPeer(pod2.ns, pod1.ip, 8081), `${pod2.ip}`, 'pod1 sees pod2\'s own address');
    await echoPeerServer(outside, 8082);
    assert.equal(await fetchPeer(pod2.ns, '203.0.113.1', 8082), '192.168.77.1', 'outside sees the node address');
    await echoPeerServer(node, 8083);
    assert.equal(await fetchPeer(pod2.ns, '192.168.77.1', 8083), pod2.ip, 'the node sees the pod address');
    assert.equal(await fetchPeer(node, pod1.ip, 8081), '10.244.1.1', 'the node reaches a pod from its kbr0 address, no NAT');
  });

  test('host ports forward TCP and UDP from another machine, from the node itself (own address and 127.0.0.1) and from the pod (hairpin)', async () => {
    const pod1 = pods[0] as Pod;
    await echoPeerServer(pod1.ns, 80);
    assert.equal(await fetchPeer(outside, '192.168.77.1', 8080), '192.168.77.2', 'from another machine: the client address is kept');
    assert.equal(await fetchPeer(node, '192.168.77.1', 8080), '192.168.77.1', 'from the node over its own address');
    assert.equal(await fetchPeer(node, '127.0.0.1', 8080), '10.244.1.1', 'from the node over 127.0.0.1 (masqueraded to the gateway)');
    assert.equal(await fetchPeer(pod1.ns, '192.168.77.1', 8080), '10.244.1.1', 'hairpin: the pod reaches its own host port');
    const got = join(tmp, 'udp-got');
    pod1.ns.spawn(['socat', '-u', 'UDP-RECV:9000', `CREATE:${got}`]);
    await waitFor(async () => (await pod1.ns.exec(['ss', '-lun', 'sport = :9000'])).stdout.includes('9000'), 5000, 'udp listener');
    await outside.exec(['socat', '-u', '-', 'UDP-SENDTO:192.168.77.1:9000'], { input: 'hello-udp\n' });
    await waitFor(async () => {
      try {
        return readFileSync(got, 'utf8').includes('hello-udp');
      } catch {
        return false;
      }
    }, 5000, 'UDP datagram through the host port');
  });

  test('-p IP:HOST:CONTAINER forwards only on that address', async () => {
    const pod2 = pods[1] as Pod;
    await echoPeerServer(pod2.ns, 8081);
    await node.ip(['addr', 'add', '192.168.77.3/24', 'dev', 'ul0']);
    await callOk(sock(), 'NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: pod2.endpointId,
      Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 8081, HostIP: '192.168.77.3', HostPort: 8095, HostPortEnd: 8095 }] },
    });
    assert.equal(await fetchPeer(outside, '192.168.77.3', 8095), '192.168.77.2', 'published on 192.168.77.3');
    assert.match(await fetchPeer(outside, '192.168.77.1', 8095), /failed/, 'not on the node\'s other address');
    await callOk(sock(), 'NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: pod2.endpointId });
    assert.match(await fetchPeer(outside, '192.168.77.3', 8095), /failed/, 'revoked');
  });

  test('a pod cannot reach services bound to the node loopback (route_localnet guard, CVE-2020-8558)', async () => {
    const pod2 = pods[1] as Pod;
    await echoPeerServer(node, 8084); // listens on every address, 127.0.0.1 included
    // What an attacker on the pod network does: send to 127.0.0.1 through the gateway.
    await pod2.ns.exec(['sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1', 'net.ipv4.conf.all.route_localnet=1']);
    await pod2.ns.ip(['rule', 'add', 'pref', '200', 'lookup', 'local']);
    await pod2.ns.ip(['rule', 'del', 'pref', '0']);
    await pod2.ns.ip(['route', 'add', '127.0.0.1/32', 'via', '10.244.1.1', 'dev', 'eth0', 'table', '100']);
    await pod2.ns.ip(['rule', 'add', 'to', '127.0.0.1', 'lookup', '100', 'pref', '100']);
    const attempt = async (): Promise<string> =>
      (await pod2.ns.exec(['socat', '-T2', '-', 'TCP:127.0.0.1:8084,connect-timeout=2'], { input: '', allowFail: true, timeoutMs: 6000 })).stdout.trim();
    // Without podnet's guard the attack works (so this test can fail)...
    await node.exec(['iptables', '-D', 'INPUT', '-j', 'PODNET-INPUT']);
    assert.equal(await attempt(), pod2.ip, 'without the guard the node loopback is reachable');
    // ...with it, it does not.
    await node.exec(['iptables', '-I', 'INPUT', '1', '-j', 'PODNET-INPUT']);
    await node.exec(['conntrack', '-F'], { allowFail: true });
    assert.equal(await attempt(), '', 'with the guard the connection fails');
  });

  test('a host port held by a host process or by another pod is refused with a clear error, and nothing is left half-made', async () => {
    await echoPeerServer(node, 8090);
    const pod3 = await startPod('pod3');
    const taken = await callPlugin(sock(), 'NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: pod3.endpointId,
      Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, HostIP: '', HostPort: 8090, HostPortEnd: 8090 }] },
    });
    assert.equal(taken.status, 500);
    assert.match(String(taken.body['Err']), /8090\/tcp is already in use by a process on this host/);
    const dup = await callPlugin(sock(), 'NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: pod3.endpointId,
      Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }] },
    });
    assert.match(String(dup.body['Err']), /already published by another container/);
    const save = (await node.exec(['iptables-save', '-t', 'nat'])).stdout;
    assert.doesNotMatch(save, /--dport 8090/);
    assert.equal((save.match(/--dport 8080 -j DNAT/g) ?? []).length, 1, 'the first pod keeps its rule');
    const zero = await callPlugin(sock(), 'NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: pod3.endpointId,
      Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, HostIP: '', HostPort: 0, HostPortEnd: 0 }] },
    });
    assert.match(String(zero.body['Err']), /explicit host port/);
  });

  test('after kill -9, a restart puts back a deleted jump and flushed rules, removes stray veths and forgets dead endpoints', async () => {
    const pod1 = pods[0] as Pod;
    const pod3 = pods[2] as Pod;
    assert.equal(await plugin.stop('SIGKILL'), null);
    await node.exec(['iptables', '-D', 'FORWARD', '-j', 'PODNET-FORWARD']);
    await node.exec(['iptables', '-t', 'nat', '-F', 'PODNET-HOSTPORTS']);
    await node.ip(['link', 'add', 'pn0123456789ab', 'type', 'veth', 'peer', 'name', 'pt0123456789ab']);
    await node.ip(['link', 'set', 'pn0123456789ab', 'master', 'kbr0']);
    await pod3.ns.destroy(); // its container went away while podnet was down
    pods.splice(2, 1);
    await plugin.start();
    await callOk(sock(), 'NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: pod1.endpointId });
    await waitFor(async () => (await node.exec(['iptables-save'])).stdout.includes('-A FORWARD -j PODNET-FORWARD'), 5000, 'jump back');
    const nat = (await node.exec(['iptables-save', '-t', 'nat'])).stdout;
    assert.match(nat, /--dport 8080 -j DNAT --to-destination 10\.244\.1\.2:80/);
    assert.equal((await node.ipJson(['link', 'show', 'dev', 'pn0123456789ab'])).length, 0, 'stray veth removed');
    assert.equal((await node.ipJson(['link', 'show', 'dev', `pn${pod3.endpointId.slice(0, 12)}`])).length, 0);
    assert.equal(await fetchPeer(outside, '192.168.77.1', 8080), '192.168.77.2', 'the host port works again');
    // The dead endpoint's address is not handed out again before its grace period ends.
    const next = (await callOk(sock(), 'IpamDriver.RequestAddress', { PoolID: POOL, Address: '', Options: null }))['Address'];
    assert.notEqual(next, `${pod3.ip}/16`);
    await callOk(sock(), 'IpamDriver.ReleaseAddress', { PoolID: POOL, Address: String(next).split('/')[0] });
  });

  test('Revoke removes the host-port rules; Leave and DeleteEndpoint remove the veth; all are idempotent', async () => {
    const pod1 = pods[0] as Pod;
    const ep = { NetworkID: NET, EndpointID: pod1.endpointId };
    for (let i = 0; i < 2; i++) await callOk(sock(), 'NetworkDriver.RevokeExternalConnectivity', ep);
    assert.doesNotMatch((await node.exec(['iptables-save', '-t', 'nat'])).stdout, /--dport (8080|9000)/);
    for (let i = 0; i < 2; i++) await callOk(sock(), 'NetworkDriver.Leave', ep);
    for (let i = 0; i < 2; i++) await callOk(sock(), 'NetworkDriver.DeleteEndpoint', ep);
    for (let i = 0; i < 2; i++) await callOk(sock(), 'IpamDriver.ReleaseAddress', { PoolID: POOL, Address: pod1.ip });
    // Leave answers before the kernel has unregistered the veth: it is gone within a moment.
    await waitFor(async () => (await node.ipJson(['link', 'show', 'dev', `pn${pod1.endpointId.slice(0, 12)}`])).length === 0, 2000, 'the veth removed');
  });

  test('removing the last network removes kbr0, the chains and the jumps; teardown is idempotent', async () => {
    for (const p of pods.slice(1)) {
      await callOk(sock(), 'NetworkDriver.Leave', { NetworkID: NET, EndpointID: p.endpointId });
      await callOk(sock(), 'NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: p.endpointId });
      await callOk(sock(), 'IpamDriver.ReleaseAddress', { PoolID: POOL, Address: p.ip });
    }
    for (let i = 0; i < 2; i++) {
      await callOk(sock(), 'NetworkDriver.DeleteNetwork', { NetworkID: NET });
      await callOk(sock(), 'IpamDriver.ReleasePool', { PoolID: POOL });
    }
    assert.equal((await node.ipJson(['link', 'show', 'dev', 'kbr0'])).length, 0, 'kbr0 removed');
    assert.doesNotMatch((await node.exec(['iptables-save'])).stdout, /PODNET/);
    await sleep(10);
  });

  test('the socket is root-only; SIGTERM removes it; a second instance on the same state dir refuses to start', async () => {
    assert.equal(statSync(sock()).mode & 0o777, 0o600);
    const second = new NetnsPlugin(node, { PODNET_STATE_DIR: plugin.stateDir });
    await assert.rejects(second.start(), /already running with state dir .* \(pid \d+\)/);
    await second.destroy();
    assert.equal(await plugin.stop('SIGTERM'), 0);
    await assert.rejects(callPlugin(sock(), 'Plugin.Activate', undefined), /ENOENT/);
  });
});
