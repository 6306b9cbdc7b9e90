/*
 * podnet with a real dockerd (Docker's default firewall: FORWARD policy DROP, br_netfilter on)
 * inside a test host, as a user runs it: docker network create / run / stop / rm.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, dockerLabSkipReason, type Lab, type TestClient, type TestHost } from '../harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../harness/images';
import { sleep, waitFor } from '../harness/exec';

const skip = dockerLabSkipReason() ?? false;
const IMG = TEST_IMAGE;
const CREATE = ['network', 'create', '-d', 'podnet', '--ipam-driver', 'podnet'];

describe('podnet with a real dockerd on one host', { skip, timeout: 600_000 }, () => {
  let lab: Lab;
  let host: TestHost;
  let client: TestClient;

  /** docker CLI in the host; throws with Docker's own message on failure. */
  async function docker(...args: string[]): Promise<string> {
    const r = await host.docker(args, { allowFail: true, timeoutMs: 90_000 });
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}\n--- podnet log ---\n${host.logs().slice(-3000)}`);
    return r.stdout.trim();
  }

  /** The error Docker printed, for commands that must fail. */
  async function dockerFails(...args: string[]): Promise<string> {
    const r = await host.docker(args, { allowFail: true, timeoutMs: 90_000 });
    assert.notEqual(r.code, 0, `docker ${args.join(' ')} should have failed; it printed ${r.stdout}`);
    return r.stderr;
  }

  async function ipOf(container: string, network = 'podnet'): Promise<string> {
    return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);
  }

  async function execIn(container: string, ...argv: string[]): Promise<{ code: number; out: string }> {
    const r = await host.docker(['exec', container, ...argv], { allowFail: true, timeoutMs: 30_000 });
    return { code: r.code, out: (r.stdout + r.stderr).trim() };
  }

  /** Starts a container whose TCP port answers every connection with the peer address it saw. */
  async function runEchoPeer(name: string, network: string, port: number, extra: string[] = []): Promise<string> {
    await docker('run', '-d', '--name', name, '--network', network, ...extra, IMG, 'socat', `TCP-LISTEN:${port},fork,reuseaddr`, 'SYSTEM:echo $SOCAT_PEERADDR');
    await waitFor(async () => (await execIn(name, 'sh', '-c', `netstat -ltn | grep -q ":${port} "`)).code === 0, 10_000, `${name} listening`);
    return ipOf(name, network);
  }

  async function podnetRules(): Promise<string> {
    return (await host.exec(['iptables-save', '-t', 'nat'])).stdout;
  }

  before(async () => {
    lab = await createLab('pne');
    host = await lab.addHost('node1', { docker: true });
    client = await lab.addClient('client');
    await host.startPodnet();
    await ensureTestImage(host);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('network create, two containers ping each other and the gateway, through Docker\'s DROP policy', async () => {
    await docker(...CREATE, 'podnet');
    assert.match((await host.exec(['iptables', '-S', 'FORWARD'])).stdout, /-P FORWARD DROP/, 'dockerd runs with its default firewall');
    await docker('run', '-d', '--name', 'pa', '--network', 'podnet', IMG, 'sleep', '3600');
    const a = await ipOf('pa');
    assert.match(a, /^10\.244\.1\.\d+$/);
    const addr = await execIn('pa', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0');
    assert.match(addr.out, new RegExp(`inet ${a.replace(/\./g, '\\.')}/16`), 'the pod has the cluster mask');
    assert.equal((await execIn('pa', 'cat', '/sys/class/net/eth0/mtu')).out, '1458', 'underlay 1500 - flow-based GRE 42');
    const ping = await host.docker(['run', '--rm', '--network', 'podnet', IMG, 'sh', '-c', `ping -c1 -W2 ${a} && ping -c1 -W2 10.244.1.1`], { allowFail: true });
    assert.equal(ping.code, 0, `ping failed: ${ping.stdout} ${ping.stderr}`);
    const route = await execIn('pa', 'ip', 'route', 'show', 'default');
    assert.match(route.out, /default via 10\.244\.1\.1 dev eth0/);
  });

  test('pods reach the node and the node reaches pods without NAT; egress is masqueraded', async () => {
    const b = await runEchoPeer('pb', 'podnet', 8081);
    const fromNode = await host.exec(['socat', '-T3', '-', `TCP:${b}:8081,connect-timeout=3`], { input: '' });
    assert.equal(fromNode.stdout.trim(), '10.244.1.1', 'the node reaches the pod from its kbr0 address');
    const fromPod = await execIn('pa', 'socat', '-T3', '-', `TCP:${b}:8081,connect-timeout=3`);
    assert.equal(fromPod.out, await ipOf('pa'), 'pod to pod keeps the source address');
    lab.outside.spawn(['socat', 'TCP-LISTEN:8099,fork,reuseaddr', 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitFor(async () => (await execIn('pa', 'socat', '-T2', '-', 'TCP:203.0.113.1:8099,connect-timeout=2')).code === 0, 10_000, 'outside reachable');
    const egress = await execIn('pa', 'socat', '-T3', '-', 'TCP:203.0.113.1:8099,connect-timeout=3');
    assert.equal(egress.out, host.ip, 'outside sees the node address');
    const toNode = await execIn('pa', 'ping', '-c1', '-W2', host.ip);
    assert.equal(toNode.code, 0, 'the pod reaches the node over its other addresses');
    await docker('rm', '-f', 'pb');
  });

  test('stop releases the address and removes the veth; network rm removes kbr0; create (with -o mtu) works again after rm', async () => {
    const a = await ipOf('pa');
    const veths = async (): Promise<string[]> =>
      (await host.exec(['ip', '-o', 'link', 'show', 'master', 'kbr0'], { allowFail: true })).stdout.split('\n').filter((l) => / pn[0-9a-f]{12}@/.test(l));
    assert.equal((await veths()).length, 1);
    await docker('rm', '-f', 'pa');
    // Leave answers before the kernel has unregistered the veth: it is gone within a moment.
    await waitFor(async () => (await veths()).length === 0, 2000, 'host-side veth removed');
    await docker('network', 'rm', 'podnet');
    const kbr0 = await host.exec(['ip', 'link', 'show', 'kbr0'], { allowFail: true });
    assert.notEqual(kbr0.code, 0, 'kbr0 removed with the last network');
    assert.doesNotMatch((await host.exec(['iptables-save'])).stdout, /PODNET/);
    await docker(...CREATE, '-o', 'com.docker.network.driver.mtu=1400', 'podnet');
    await docker('run', '-d', '--name', 'a2', '--network', 'podnet', IMG, 'sleep', '3600');
    assert.match(await ipOf('a2'), /^10\.244\.1\.\d+$/);
    assert.equal((await execIn('a2', 'cat', '/sys/class/net/eth0/mtu')).out, '1400', '-o com.docker.network.driver.mtu');
    assert.notEqual(await ipOf('a2'), a, 'a released address is not reused at once');
    await docker('rm', '-f', 'a2');
    await docker('network', 'rm', 'podnet');
  });

  test('network create does not hang when kbr0 and its route already exist (Docker 20.10 overlap loop)', async () => {
    await host.exec(['ip', 'link', 'add', 'kbr0', 'type', 'bridge']);
    await host.exec(['ip', 'addr', 'add', '10.244.1.1/16', 'dev', 'kbr0']);
    await host.exec(['ip', 'link', 'set', 'kbr0', 'up']);
    await docker(...CREATE, 'podnet');
    await docker('run', '-d', '--name', 'pk', '--network', 'podnet', IMG, 'sleep', '3600');
    assert.match(await ipOf('pk'), /^10\.244\.1\.\d+$/);
    await docker('rm', '-f', 'pk');
    await docker('network', 'rm', 'podnet');
    assert.equal((await host.exec(['ip', 'link', 'show', 'kbr0'], { allowFail: true })).code, 0, 'a kbr0 podnet did not create is kept');
    await host.exec(['ip', 'link', 'del', 'kbr0']);
  });

  test('create with --subnet = cluster CIDR allows --ip; bad --ip, bad subnet, no podnet IPAM, a second network and unknown -o are refused', async () => {
    assert.match(await dockerFails(...CREATE, '--subnet', '10.99.0.0/16', 'bad'), /is not podnet's cluster CIDR 10\.244\.0\.0\/16/);
    assert.match(await dockerFails('network', 'create', '-d', 'podnet', 'noipam'), /--ipam-driver podnet/);
    assert.match(await dockerFails(...CREATE, '-o', 'foo=bar', 'badopt'), /unknown option -o foo.*com\.docker\.network\.driver\.mtu/);
    await docker(...CREATE, '--subnet', '10.244.0.0/16', 'pods');
    assert.match(await dockerFails(...CREATE, 'second'), /already has a podnet network/);
    await docker('run', '-d', '--name', 'fixed', '--network', 'pods', '--ip', '10.244.1.50', IMG, 'sleep', '3600');
    assert.equal(await ipOf('fixed', 'pods'), '10.244.1.50');
    assert.match(await dockerFails('run', '--rm', '--network', 'pods', '--ip', '10.244.1.50', IMG, 'true'), /already in use/);
    assert.match(await dockerFails('run', '--rm', '--network', 'pods', '--ip', '10.244.7.9', IMG, 'true'), /outside this node's pod addresses/);
    await docker('rm', '-f', 'fixed');
  });

  test('host ports: TCP and UDP from another machine, the node and 127.0.0.1; -p 80 and a taken port refused; stop removes the rules', async () => {
    const ip = await runEchoPeer('web', 'pods', 80, ['--ip', '10.244.1.50', '-p', '8080:80', '-p', '9000:9000/udp']);
    assert.equal(ip, '10.244.1.50');
    const remote = await client.exec(['socat', '-T3', '-', `TCP:${host.ip}:8080,connect-timeout=3`], { input: '' });
    assert.equal(remote.stdout.trim(), client.ip, 'the pod sees the client address');
    const local = await host.exec(['socat', '-T3', '-', 'TCP:127.0.0.1:8080,connect-timeout=3'], { input: '' });
    assert.equal(local.stdout.trim(), '10.244.1.1');
    const own = await host.exec(['socat', '-T3', '-', `TCP:${host.ip}:8080,connect-timeout=3`], { input: '' });
    assert.equal(own.stdout.trim(), host.ip, 'the node reaches its own host port, from its own address');
    const hairpin = await execIn('web', 'socat', '-T3', '-', `TCP:${host.ip}:8080,connect-timeout=3`);
    assert.equal(hairpin.code, 0, `hairpin: ${hairpin.out}`);
    await execIn('web', 'sh', '-c', 'socat -u UDP-RECV:9000 CREATE:/tmp/got >/dev/null 2>&1 &');
    await sleep(300);
    await client.exec(['socat', '-u', '-', `UDP-SENDTO:${host.ip}:9000`], { input: 'payload-over-udp\n' });
    await waitFor(async () => (await execIn('web', 'cat', '/tmp/got')).out.includes('payload-over-udp'), 5000, 'UDP payload in the pod');

    assert.match(await dockerFails('run', '--rm', '--network', 'pods', '-p', '80', IMG, 'true'), /explicit host port/);
    assert.match(await dockerFails('run', '--rm', '--network', 'pods', '-p', '8080:80', IMG, 'true'), /already published by another container/);
    host.spawn(['socat', 'TCP-LISTEN:8085,reuseaddr', 'STDOUT']);
    await waitFor(async () => (await host.exec(['ss', '-ltn', 'sport = :8085'])).stdout.includes('LISTEN'), 5000, 'host process on 8085');
    assert.match(await dockerFails('run', '--rm', '--network', 'pods', '-p', '8085:80', IMG, 'true'), /already in use by a process on this host/);

    await docker('stop', '-t', '1', 'web');
    assert.doesNotMatch(await podnetRules(), /--dport (8080|9000)/, 'stop removes the host-port rules');
    await docker('rm', 'web');
  });

  test('20 containers started in parallel get distinct addresses and all reach each other', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
    await Promise.all(names.map((n) => docker('run', '-d', '--name', n, '--network', 'pods', IMG, 'sleep', '3600')));
    const ips = await Promise.all(names.map((n) => ipOf(n, 'pods')));
    assert.equal(new Set(ips).size, 20, `distinct addresses: ${ips.join(' ')}`);
    for (const [i, n] of names.entries()) {
      const others = ips.filter((_, j) => j !== i).join(' ');
      const r = await execIn(n, 'sh', '-c', `for ip in ${others}; do ping -c1 -W2 $ip >/dev/null || echo "unreachable $ip"; done`);
      assert.equal(r.out, '', `${n} (${ips[i]}) reaches every other pod`);
    }
  });

  test('kill -9 of podnet with containers running: they keep working, new ones get fresh addresses, old ones tear down', async () => {
    const before = await Promise.all(['p0', 'p1'].map((n) => ipOf(n, 'pods')));
    await host.killPodnet('SIGKILL');
    assert.equal((await execIn('p0', 'ping', '-c1', '-W2', before[1] as string)).code, 0, 'traffic flows while podnet is down');
    await host.startPodnet();
    await docker('run', '-d', '--name', 'late', '--network', 'pods', IMG, 'sleep', '3600');
    const late = await ipOf('late', 'pods');
    const all = await Promise.all([...Array.from({ length: 20 }, (_, i) => `p${i}`), 'late'].map((n) => ipOf(n, 'pods')));
    assert.equal(new Set(all).size, 21, 'no duplicate after the restart');
    assert.equal((await execIn('late', 'ping', '-c1', '-W2', before[0] as string)).code, 0);
    await Promise.all([...Array.from({ length: 20 }, (_, i) => `p${i}`), 'late'].map((n) => docker('rm', '-f', n)));
    const ours = async (): Promise<boolean> => / pn[0-9a-f]{12}@/.test((await host.exec(['ip', '-o', 'link', 'show', 'master', 'kbr0'])).stdout);
    await waitFor(async () => !(await ours()), 5000, 'every veth removed');
    assert.ok(late);
  });

  test('a container with -p stopped while podnet is down starts again with its port once podnet is back', async () => {
    await docker('run', '-d', '--name', 'hp', '--network', 'pods', '-p', '8090:80', IMG, 'sleep', '3600');
    await host.killPodnet('SIGKILL');
    // Docker tears the sandbox down (eth0 back to the host) and cannot tell podnet.
    await host.docker(['stop', '-t', '1', 'hp'], { allowFail: true, timeoutMs: 120_000 });
    await host.startPodnet();
    try {
      await docker('start', 'hp'); // refused before: "host port 8090 is already published" (by itself)
      assert.match(await podnetRules(), /--dport 8090 -j DNAT/);
      const ip = await ipOf('hp', 'pods');
      assert.match(await podnetRules(), new RegExp(`--to-destination ${ip.replace(/\./g, '\\.')}:80`), 'the rule points at its new address');
    } finally {
      await docker('rm', '-f', 'hp');
    }
  });

  test('kbr0 deleted by hand with pods running: after the next reconcile (here the one at a restart) the pods keep working', async () => {
    await docker('run', '-d', '--name', 'ka', '--network', 'pods', IMG, 'sleep', '3600');
    await docker('run', '-d', '--name', 'kb', '--network', 'pods', IMG, 'sleep', '3600');
    const kb = await ipOf('kb', 'pods');
    assert.equal((await execIn('ka', 'ping', '-c1', '-W2', kb)).code, 0);
    await host.exec(['ip', 'link', 'del', 'kbr0']);
    const { pid } = await host.killPodnet('SIGKILL').then(() => host.startPodnet());
    assert.ok(pid);
    await waitFor(async () => (await execIn('ka', 'ping', '-c1', '-W1', kb)).code === 0, 15_000, 'ka reaches kb again');
    assert.equal((await execIn('kb', 'ping', '-c1', '-W2', '10.244.1.1')).code, 0, 'and the gateway');
    await docker('rm', '-f', 'ka', 'kb');
  });

  test('connect and disconnect work like run and stop; a container on bridge and podnet keeps both', async () => {
    await docker('run', '-d', '--name', 'c1', IMG, 'sleep', '3600'); // on Docker's default bridge
    await docker('network', 'connect', 'pods', 'c1');
    const ip = await ipOf('c1', 'pods');
    assert.match(ip, /^10\.244\.1\.\d+$/);
    assert.equal((await execIn('c1', 'ping', '-c1', '-W2', '10.244.1.1')).code, 0);
    await docker('network', 'disconnect', 'pods', 'c1');
    await waitFor(async () => !/ pn[0-9a-f]{12}@/.test((await host.exec(['ip', '-o', 'link', 'show', 'master', 'kbr0'])).stdout), 2000, 'the veth removed');
    await docker('rm', '-f', 'c1');

    // Started on podnet with -p, then connected to bridge: which network publishes the port?
    await runEchoPeer('c2', 'pods', 80, ['-p', '8087:80']);
    await docker('network', 'connect', 'bridge', 'c2');
    const route = (await execIn('c2', 'ip', 'route', 'show', 'default')).out;
    const published = await client.exec(['socat', '-T3', '-', `TCP:${host.ip}:8087,connect-timeout=3`], { input: '', allowFail: true });
    // Seen with Docker 20.10 (and said in the README): bridge becomes the default route; the host
    // port stays reachable, forwarded by whichever network Docker now calls the gateway, once.
    assert.match(route, /default via 172\.17\.0\.1/);
    assert.equal(published.stdout.trim(), client.ip);
    const dnats = (await podnetRules()).split('\n').filter((l) => /--dport 8087 -j DNAT/.test(l));
    assert.equal(dnats.length, 1, `one forwarding rule for 8087: ${dnats.join(' | ')}`);
    assert.equal((await execIn('c2', 'ping', '-c1', '-W2', '10.244.1.1')).code, 0, 'podnet still reachable');
    assert.equal((await execIn('c2', 'ping', '-c1', '-W2', '172.17.0.1')).code, 0, 'bridge reachable');
    await docker('rm', '-f', 'c2');
    await docker('network', 'rm', 'pods');
  });

  test('--internal: pods reach each other but not the outside, and nothing is masqueraded or published', async () => {
    // Independent of the tests before: no leftover podnet network may block this one.
    await host.docker(['rm', '-f', 'c1', 'c2'], { allowFail: true });
    await host.docker(['network', 'rm', 'pods'], { allowFail: true });
    await docker(...CREATE, '--internal', 'inside');
    await docker('run', '-d', '--name', 'i1', '--network', 'inside', '-p', '8086:80', IMG, 'sleep', '3600');
    await docker('run', '-d', '--name', 'i2', '--network', 'inside', IMG, 'sleep', '3600');
    assert.equal((await execIn('i1', 'ping', '-c1', '-W2', await ipOf('i2', 'inside'))).code, 0);
    assert.notEqual((await execIn('i1', 'ping', '-c1', '-W2', '203.0.113.1')).code, 0, 'no egress');
    const nat = await podnetRules();
    assert.doesNotMatch(nat, /MASQUERADE.*-s 10\.244|-s 10\.244\.0\.0\/16 ! -d/, 'no egress masquerade');
    assert.doesNotMatch(nat, /--dport 8086/, 'no host port');
    await docker('rm', '-f', 'i1', 'i2');
    await docker('network', 'rm', 'inside');
  });
});
