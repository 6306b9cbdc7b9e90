/*
 * Three (then four) test hosts, each with its own dockerd (default firewall), Open vSwitch
 * (userspace datapath, underlay address on brphy as an administrator would set it up) and podnet
 * with its default paths, joined by a cluster file: the Kubernetes network model across nodes.
 * One cluster per tunnel/topology case; every check runs on it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLab, dockerLabSkipReason, REPO_ROOT, type Lab, type TestHost } from '../harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../harness/images';
import { sleep, waitFor } from '../harness/exec';

const skip = dockerLabSkipReason() ?? false;
const IMG = TEST_IMAGE;
// A tiny HTTP server: reads the request line, answers with the client address it saw. (No quotes:
// socat strips them from SYSTEM commands.)
const HTTP_PEER = 'SYSTEM:read -r request; echo HTTP/1.0 200 OK; echo; echo $SOCAT_PEERADDR';

interface Case {
  readonly tunnel: 'gre' | 'vxlan';
  readonly topology: 'flow' | 'mesh';
  /** How soon a node added to the cluster file must carry traffic (issue: flow 3 s, mesh 10 s). */
  readonly addWithinMs: number;
}

const CASES: readonly Case[] = [
  { tunnel: 'gre', topology: 'flow', addWithinMs: 3000 },
  { tunnel: 'vxlan', topology: 'flow', addWithinMs: 3000 },
  { tunnel: 'gre', topology: 'mesh', addWithinMs: 10_000 },
];

function clusterFile(c: Case, hosts: readonly TestHost[]): string {
  return JSON.stringify(
    {
      clusterCIDR: '10.244.0.0/16',
      tunnel: c.tunnel,
      topology: c.topology,
      vni: 7,
      nodes: hosts.map((h, i) => ({ name: h.name, ip: h.ip, subnet: `10.244.${i + 1}.0/24` })),
    },
    null,
    2,
  );
}

for (const c of CASES) {
  describe(`multi-host: ${c.tunnel} / ${c.topology}`, { skip, timeout: 300_000 }, () => {
    let lab: Lab;
    const hosts: TestHost[] = [];
    const srv: string[] = []; // pod IP of the server pod on host i
    const cli: string[] = []; // pod IP of the client pod on host i

    async function docker(h: TestHost, ...args: string[]): Promise<string> {
      const r = await h.docker(args, { allowFail: true, timeoutMs: 90_000 });
      if (r.code !== 0) throw new Error(`${h.name}: docker ${args.join(' ')} failed: ${r.stderr.trim()}\n--- podnet log ---\n${h.logs().slice(-2500)}`);
      return r.stdout.trim();
    }

    async function execIn(h: TestHost, container: string, script: string, timeoutMs = 30_000): Promise<{ code: number; out: string }> {
      const r = await h.docker(['exec', container, 'sh', '-c', script], { allowFail: true, timeoutMs });
      return { code: r.code, out: (r.stdout + r.stderr).trim() };
    }

    async function ipOf(h: TestHost, container: string): Promise<string> {
      return docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "podnet").IPAddress}}', container);
    }

    async function bringUp(h: TestHost, i: number): Promise<void> {
      await h.startPodnet();
      await ensureTestImage(h);
      await docker(h, 'network', 'create', '-d', 'podnet', '--ipam-driver', 'podnet', 'podnet');
      await docker(h, 'run', '-d', '--name', 'srv', '--network', 'podnet', IMG, 'socat', 'TCP-LISTEN:8080,fork,reuseaddr', HTTP_PEER);
      await docker(h, 'run', '-d', '--name', 'cli', '--network', 'podnet', IMG, 'sleep', '3600');
      srv[i] = await ipOf(h, 'srv');
      cli[i] = await ipOf(h, 'cli');
      // The host itself answers on 7000 with the address it saw (pod-to-node checks).
      h.spawn(['socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:echo "$SOCAT_PEERADDR"']);
    }

    /** An HTTP GET from a pod (socat: busybox-static's wget crashes); the body is the client address the server saw. */
    async function httpFromPod(h: TestHost, ip: string): Promise<string> {
      const r = await execIn(h, 'cli', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat -T3 - TCP:${ip}:8080,connect-timeout=3`);
      return r.code === 0 && r.out.startsWith('HTTP/1.0 200') ? (r.out.split('\n').pop() ?? '').trim() : `(failed: ${r.out})`;
    }

    async function flowsAndPorts(h: TestHost): Promise<{ flows: string[]; ports: string[] }> {
      const flows = (await h.ovsOfctl(['dump-flows', 'obr0', '--no-stats'])).stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('NXST') && !l.startsWith('OFPST'))
        .sort();
      const ports = (await h.ovsVsctl(['list-ports', 'obr0'])).stdout.split('\n').filter(Boolean).sort();
      return { flows, ports };
    }

    before(async () => {
      lab = await createLab('pnm');
      for (const name of ['n1', 'n2', 'n3']) hosts.push(await lab.addHost(name, { docker: true, ovs: true }));
      for (const h of hosts) await h.writeFile('/etc/podnet/cluster.json', clusterFile(c, hosts));
      await Promise.all(hosts.map((h, i) => bringUp(h, i)));
    });

    after(async () => {
      await lab?.destroy();
    });

    test('each node takes its subnet from the cluster file; a pod reads on eth0 the IP its peers reach', async () => {
      for (const [i, h] of hosts.entries()) {
        assert.match(srv[i] as string, new RegExp(`^10\\.244\\.${i + 1}\\.\\d+$`), `${h.name}'s pods are in 10.244.${i + 1}.0/24`);
        const eth0 = await execIn(h, 'srv', 'ip -4 -o addr show dev eth0');
        assert.match(eth0.out, new RegExp(`inet ${(srv[i] as string).replace(/\./g, '\\.')}/16 `));
        assert.equal((await execIn(h, 'srv', 'cat /sys/class/net/eth0/mtu')).out, String(1500 - (c.tunnel === 'vxlan' ? 50 : c.topology === 'flow' ? 42 : 38)));
      }
    });

    test('pod to pod, same node and across nodes: HTTP over TCP, and the server sees the client pod IP', async () => {
      for (const [i, h] of hosts.entries()) {
        for (const j of hosts.keys()) {
          const seen = await waitForValue(() => httpFromPod(h, srv[j] as string), cli[i] as string, c.addWithinMs * 3);
          assert.equal(seen, cli[i], `${h.name} -> ${hosts[j]?.name}: no NAT`);
        }
      }
    });

    test('UDP across nodes, including a 2000-byte datagram (MTU), arrives whole', async () => {
      const [h1, h2] = hosts as [TestHost, TestHost];
      await execIn(h2, 'srv', 'socat -u UDP-RECV:9000 CREATE:/tmp/udp >/dev/null 2>&1 &');
      await sleep(300);
      await execIn(h1, 'cli', `head -c 2000 /dev/zero | tr '\\0' x | socat -u - UDP-SENDTO:${srv[1]}:9000`);
      await waitFor(async () => (await execIn(h2, 'srv', 'wc -c < /tmp/udp')).out === '2000', 5000, '2000-byte datagram');
    });

    test('a 2 MB TCP transfer across nodes arrives whole', async () => {
      const [h1, , h3] = hosts as [TestHost, TestHost, TestHost];
      await execIn(h3, 'srv', 'socat -u TCP-LISTEN:9001,reuseaddr CREATE:/tmp/big >/dev/null 2>&1 &');
      await sleep(300);
      const send = await execIn(h1, 'cli', `head -c 2097152 /dev/urandom > /tmp/src && socat -u /tmp/src TCP:${srv[2]}:9001,connect-timeout=5 && md5sum /tmp/src`, 60_000);
      assert.equal(send.code, 0, send.out);
      const sum = send.out.split(/\s+/)[0];
      await waitFor(async () => (await execIn(h3, 'srv', 'md5sum /tmp/big')).out.startsWith(sum ?? '-'), 20_000, '2 MB file with the same checksum');
    });

    test('node to pod and pod to node, local and remote, without NAT', async () => {
      const [h1, h2] = hosts as [TestHost, TestHost];
      for (const [target, label] of [[srv[0], 'local'], [srv[1], 'remote']] as const) {
        const r = await h1.exec(['socat', '-T3', '-', `TCP:${target}:8080,connect-timeout=3`], { input: 'GET / HTTP/1.0\r\n\r\n' });
        assert.match(r.stdout, /10\.244\.1\.1\s*$/, `node1 -> ${label} pod: the pod sees node1's kbr0 address`);
      }
      const local = await execIn(h1, 'cli', 'socat -T3 - TCP:10.244.1.1:7000,connect-timeout=3');
      assert.equal(local.out, cli[0], 'pod -> its own node');
      const remote = await execIn(h1, 'cli', 'socat -T3 - TCP:10.244.2.1:7000,connect-timeout=3');
      assert.equal(remote.out, cli[0], 'pod -> another node (its kbr0 address), no NAT');
      assert.ok(h2);
    });

    test('pods (podnet pod) on two nodes reach each other by pod IP, and the server sees the client pod IP', { skip: c.tunnel !== 'gre' || c.topology !== 'flow' }, async () => {
      const [h1, h2] = hosts as [TestHost, TestHost];
      const pod = async (h: TestHost, args: string[]): Promise<string> => {
        const r = await h.exec([process.execPath, join(REPO_ROOT, 'bin', 'podnet.js'), 'pod', ...args], {
          allowFail: true,
          timeoutMs: 60_000,
          env: { ...process.env, PODNET_INFRA_IMAGE: IMG, PODNET_INFRA_COMMAND: 'sleep 2147483647' },
        });
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      await pod(h2, ['run', 'server', '--image', IMG, '--', 'socat', 'TCP-LISTEN:8080,fork,reuseaddr', HTTP_PEER]);
      await pod(h1, ['run', 'client', '--image', IMG, '--', 'sleep', '3600']);
      const serverIp = (JSON.parse(await pod(h2, ['inspect', 'server'])) as { podIP: string }).podIP;
      const clientIp = (JSON.parse(await pod(h1, ['inspect', 'client'])) as { podIP: string }).podIP;
      assert.match(serverIp, /^10\.244\.2\.\d+$/);
      const got = await waitForValue(async () => {
        const r = await h1.docker(['exec', 'podnet_client_client_default', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat -T3 - TCP:${serverIp}:8080,connect-timeout=3`], { allowFail: true });
        return (r.stdout.trim().split('\n').pop() ?? '').trim();
      }, clientIp, 10_000);
      assert.equal(got, clientIp);
      await pod(h1, ['rm', 'client']);
      await pod(h2, ['rm', 'server']);
    });

    test('a 4th node added to the cluster file at runtime is reachable, then removed cleanly', async () => {
      const h4 = await lab.addHost('n4', { docker: true, ovs: true });
      const four = [...hosts, h4];
      const before = await Promise.all(hosts.map(flowsAndPorts));
      await h4.writeFile('/etc/podnet/cluster.json', clusterFile(c, four));
      await bringUp(h4, 3);
      const t0 = Date.now();
      await Promise.all(hosts.map((h) => h.writeFile('/etc/podnet/cluster.json', clusterFile(c, four))));
      await waitFor(async () => (await httpFromPod(hosts[0] as TestHost, srv[3] as string)) === cli[0], c.addWithinMs + 2000, 'n1 pod -> n4 pod');
      const took = Date.now() - t0;
      assert.ok(took <= c.addWithinMs + 1000, `carried traffic after ${took} ms (target ${c.addWithinMs} ms)`);
      for (const [i, h] of hosts.entries()) assert.equal(await httpFromPod(h4, srv[i] as string), cli[3], `n4 -> ${h.name}`);

      await Promise.all(hosts.map((h) => h.writeFile('/etc/podnet/cluster.json', clusterFile(c, hosts))));
      await docker(h4, 'rm', '-f', 'srv', 'cli');
      await waitFor(async () => {
        const now = await Promise.all(hosts.map(flowsAndPorts));
        return JSON.stringify(now) === JSON.stringify(before);
      }, 10_000, 'every node back to the same ports and flows as before n4');
      for (const h of hosts) {
        const { flows, ports } = await flowsAndPorts(h);
        assert.ok(!flows.some((f) => f.includes('10.244.4.') || f.includes(h4.ip)), `${h.name}: no flow for n4`);
        assert.ok(!ports.some((p) => p.startsWith('pnt-') && p.endsWith('0e')), `${h.name}: no tunnel port for n4`);
        assert.doesNotMatch((await h.exec(['ip', 'route'])).stdout, /10\.244\.4\./, `${h.name}: no route for n4`);
      }
      // Traffic between the remaining nodes: untouched in flow; in mesh, RSTP reconverges when a
      // port on the active tree goes (the issue bounds only the time to use a new peer).
      const settle = c.topology === 'mesh' ? 45_000 : 3000;
      for (const [i, h] of hosts.entries()) {
        for (const j of hosts.keys()) {
          if (i !== j) assert.equal(await waitForValue(() => httpFromPod(h, srv[j] as string), cli[i] as string, settle), cli[i], `${h.name} -> ${hosts[j]?.name} after n4 left`);
        }
      }
      await h4.destroy();
    });

    test('obr0 or a flow deleted by hand comes back at the next reconcile (SIGHUP), exactly as before', { skip: c.tunnel !== 'gre' || c.topology !== 'flow' }, async () => {
      const h1 = hosts[0] as TestHost;
      const before = await flowsAndPorts(h1);
      const someFlow = before.flows.find((f) => f.includes('nw_dst=10.244.2.0/24'));
      assert.ok(someFlow, 'a flow for n2');
      await h1.ovsOfctl(['del-flows', 'obr0', 'ip,in_port=1,nw_dst=10.244.2.0/24']);
      await h1.exec(['kill', '-HUP', String(h1.podnetPid)]);
      await waitFor(async () => JSON.stringify(await flowsAndPorts(h1)) === JSON.stringify(before), 5000, 'the flow put back');
      await h1.ovsVsctl(['del-br', 'obr0']);
      await h1.exec(['kill', '-HUP', String(h1.podnetPid)]);
      await waitFor(async () => JSON.stringify(await flowsAndPorts(h1).catch(() => ({}))) === JSON.stringify(before), 5000, 'obr0 put back');
      assert.equal(await waitForValue(() => httpFromPod(h1, srv[1] as string), cli[0] as string, 5000), cli[0]);
    });

    test('a bad cluster file, or one that moves this node\'s subnet, is refused and the running configuration stays', { skip: c.tunnel !== 'gre' || c.topology !== 'flow' }, async () => {
      const h1 = hosts[0] as TestHost;
      const before = await flowsAndPorts(h1);
      const good = clusterFile(c, hosts);
      const duplicate = good.replace('"10.244.3.0/24"', '"10.244.2.0/24"');
      await h1.writeFile('/etc/podnet/cluster.json', duplicate);
      await waitFor(async () => /cluster change refused.*nodes\[2\] \(n3\).*overlaps n2/.test(h1.logs()), 5000, 'refusal naming the bad entry');
      const moved = JSON.parse(good) as { nodes: { subnet: string }[] };
      (moved.nodes[0] as { subnet: string }).subnet = '10.244.9.0/24';
      await h1.writeFile('/etc/podnet/cluster.json', JSON.stringify(moved));
      await waitFor(async () => /cluster change refused.*moves this node from 10\.244\.1\.0\/24/.test(h1.logs()), 5000, 'refusal of a subnet move');
      assert.deepEqual(await flowsAndPorts(h1), before, 'running configuration kept');
      assert.equal(await httpFromPod(h1, srv[2] as string), cli[0]);
      await h1.writeFile('/etc/podnet/cluster.json', good);
    });

    test('on the userspace datapath without the underlay address on an OVS bridge, podnet says so', { skip: c.tunnel !== 'gre' || c.topology !== 'flow' }, async () => {
      const h5 = await lab.addHost('n5', { docker: true, ovs: true, underlayOnOvs: false });
      await h5.writeFile('/etc/podnet/cluster.json', clusterFile(c, [...hosts, h5]));
      await h5.startPodnet();
      await docker(h5, 'network', 'create', '-d', 'podnet', '--ipam-driver', 'podnet', 'podnet');
      assert.match(h5.logs(), /sends tunnel traffic only from an address on an OVS bridge, and 192\.168\.200\.\d+ is on eth0/);
      await h5.destroy();
    });

    test('kill -9 and restart of podnet on one node: cross-node traffic keeps flowing, nothing is duplicated', async () => {
      const [h1, h2] = hosts as [TestHost, TestHost];
      const before = await flowsAndPorts(h2);
      // Settle first: in mesh, RSTP may still be reconverging after the previous test's port removal.
      assert.equal(await waitForValue(() => httpFromPod(h1, srv[1] as string), cli[0] as string, 15_000), cli[0], 'flowing before');
      await h2.killPodnet('SIGKILL');
      assert.equal(await waitForValue(() => httpFromPod(h1, srv[1] as string), cli[0] as string, 5000), cli[0], 'traffic flows while podnet is down');
      await h2.startPodnet();
      await sleep(1500);
      assert.equal(await waitForValue(() => httpFromPod(h1, srv[1] as string), cli[0] as string, 5000), cli[0], 'and after the restart');
      assert.deepEqual(await flowsAndPorts(h2), before, 'the same ports and flows, none duplicated');
      await docker(h2, 'run', '-d', '--name', 'late', '--network', 'podnet', IMG, 'sleep', '3600');
      const late = await ipOf(h2, 'late');
      assert.ok(![srv[1], cli[1]].includes(late), 'a new pod gets a fresh address');
    });
  });
}

/** Polls fn until it returns want (or the time is up); returns the last value. */
async function waitForValue(fn: () => Promise<string>, want: string, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    last = await fn();
    if (last === want) return last;
    await sleep(200);
  }
  return last;
}
