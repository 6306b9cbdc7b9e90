/**
 * Self-test of the lab harness: two docker hosts and a client on the lab switch, the test image
 * on both hosts, underlay and "outside" reachability, a stand-in plugin process, and a teardown
 * that leaves no namespace, process or folder behind.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLab, dockerLabSkipReason, listNetns, pidAlive, OUTSIDE_PUBLIC_IP, OUTSIDE_IP, type Lab, type TestHost } from '../harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../harness/images';
import { waitFor } from '../harness/exec';

const skip = dockerLabSkipReason();

test('lab: two docker hosts, a client and the outside router; teardown leaves nothing', { skip: skip ?? false, timeout: 180_000 }, async (t) => {
  const t0 = Date.now();
  const lab: Lab = await createLab('pntlab');
  let destroyed = false;
  t.after(async () => {
    if (!destroyed) await lab.destroy();
  });
  const timings: Record<string, number> = {};
  const mark = (k: string, since: number): void => {
    timings[k] = Date.now() - since;
  };

  let s = Date.now();
  const [h1, h2] = await Promise.all([lab.addHost('host1', { docker: true }), lab.addHost('host2', { docker: true })]);
  mark('2 docker hosts (parallel)', s);
  assert.ok(h1 && h2);
  s = Date.now();
  const client = await lab.addClient('client1');
  mark('client', s);

  await t.test('host layout looks like a real host', async () => {
    // eth0 with the underlay address, default route via the outside router, ip_forward on.
    const addr = await h1.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, new RegExp(`inet ${h1.ip.replace(/\./g, '\\.')}/24`));
    const route = await h1.exec(['ip', 'route', 'show', 'default']);
    assert.match(route.stdout, new RegExp(`default via ${OUTSIDE_IP.replace(/\./g, '\\.')} dev eth0`));
    // ip_forward was left at 0 (a fresh host): dockerd turned it on and set FORWARD policy DROP.
    assert.equal((await h1.exec(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
    // Its own sysfs: /sys/class/net lists the host's links (eth0, docker0), not the machine's.
    const sysnet = (await h1.exec(['ls', '/sys/class/net'])).stdout.split(/\s+/).filter(Boolean).sort();
    assert.ok(sysnet.includes('eth0') && sysnet.includes('docker0') && sysnet.includes('lo'), `sys/class/net: ${sysnet.join(' ')}`);
    const macInside = (await h1.exec(['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    const macIp = (await h1.exec(['ip', '-o', 'link', 'show', 'dev', 'eth0'])).stdout;
    assert.ok(macIp.includes(macInside), `sysfs eth0 ${macInside} is not the host's eth0: ${macIp}`);
    // Private folders: a file written in host1's /etc/podnet is not in host2's, and shows outside.
    await h1.exec(['sh', '-c', 'echo one > /etc/podnet/marker']);
    assert.equal(fs.readFileSync(path.join(h1.hostPath('/etc/podnet'), 'marker'), 'utf8'), 'one\n');
    assert.notEqual((await h2.exec(['test', '-e', '/etc/podnet/marker'], { allowFail: true })).code, 0);
    assert.ok(!fs.existsSync('/etc/podnet/marker'), 'the host folder leaked into the root file system');
    // A private /run: each host has its own docker socket; the machine's /run has none of ours.
    assert.equal((await h1.exec(['test', '-S', '/run/docker.sock'], { allowFail: true })).code, 0);
    // Docker's default firewall (FORWARD policy DROP) is in the host's namespace.
    const fwd = await h1.exec(['iptables', '-S', 'FORWARD']);
    assert.match(fwd.stdout, /-P FORWARD DROP/);
    assert.match(fwd.stdout, /DOCKER-USER/);
  });

  await t.test('test image runs on both hosts', async () => {
    s = Date.now();
    await Promise.all([ensureTestImage(h1), ensureTestImage(h2)]);
    mark('image on both hosts', s);
    s = Date.now();
    for (const h of [h1, h2] as TestHost[]) {
      const r = await h.docker(['run', '--rm', TEST_IMAGE, 'sh', '-c', 'echo hi']);
      assert.equal(r.stdout.trim(), 'hi');
    }
    mark('2 x docker run --rm', s);
    const tools = await h1.docker(['run', '--rm', TEST_IMAGE, 'sh', '-c', 'socat -V | grep "socat version"; iperf3 --version | head -1; echo $PATH']);
    assert.match(tools.stdout, /socat version/);
    assert.match(tools.stdout, /iperf 3/);
    assert.match(tools.stdout, /\/usr\/local\/sbin:/);
  });

  await t.test('underlay and outside reachability', async () => {
    await h1.exec(['ping', '-c', '1', '-W', '2', h2.ip]);
    await h1.exec(['ping', '-c', '1', '-W', '2', OUTSIDE_PUBLIC_IP]);
    await client.exec(['ping', '-c', '1', '-W', '2', h1.ip]);
    // A container on the default docker bridge reaches the outside, masqueraded to host1's address.
    const srv = lab.outside.spawn(['socat', `TCP-LISTEN:8081,bind=${OUTSIDE_PUBLIC_IP},reuseaddr,fork`, 'SYSTEM:echo $SOCAT_PEERADDR']);
    await waitFor(async () => (await lab.outside.exec(['ss', '-Hltn', 'sport = :8081'])).stdout.includes('8081'), 5000, 'socat on the outside');
    const seen = await h1.docker(['run', '--rm', TEST_IMAGE, 'socat', '-T', '3', '-', `TCP:${OUTSIDE_PUBLIC_IP}:8081`], { input: '' });
    assert.equal(seen.stdout.trim(), h1.ip);
    process.kill(srv.pid, 'SIGTERM');
    await srv.exited;
  });

  await t.test('a stand-in plugin: start, wait for the socket, kill, restart, stop', async () => {
    const stub = path.join(lab.dir, 'stub-plugin.js');
    fs.writeFileSync(
      stub,
      `const net = require('net'); const fs = require('fs');
       const p = '/run/docker/plugins/podnet.sock';
       fs.mkdirSync('/run/docker/plugins', { recursive: true });
       try { fs.unlinkSync(p); } catch {}
       const srv = net.createServer((c) => c.end()).listen(p, () => console.log('stub listening', process.env.DEBUG, process.env.STUB_X));
       process.on('SIGTERM', () => { console.log('stub stopping'); srv.close(() => process.exit(0)); });`,
    );
    const started = await h1.startPodnet({ STUB_X: 'x1' }, { argv: [stub] });
    assert.ok(pidAlive(started.pid));
    assert.equal(h1.podnetPid, started.pid);
    const killed = await h1.killPodnet();
    assert.equal(killed.signal, 'SIGKILL');
    // The socket file is still there; startPodnet must wait for a listening one.
    assert.equal((await h1.exec(['test', '-S', '/run/docker/plugins/podnet.sock'], { allowFail: true })).code, 0);
    const again = await h1.startPodnet({ STUB_X: 'x2' }, { argv: [stub] });
    assert.notEqual(again.pid, started.pid);
    const stopped = await h1.stopPodnet();
    assert.equal(stopped.code, 0);
    assert.match(h1.logs(), /stub listening podnet:\* x1/);
    assert.match(h1.logs(), /stub listening podnet:\* x2/);
    assert.match(h1.logs(), /stub stopping/);
    // host2 does not see host1's plugin socket.
    assert.notEqual((await h2.exec(['test', '-e', '/run/docker/plugins/podnet.sock'], { allowFail: true })).code, 0);
  });

  await t.test('destroy leaves no namespace, process or folder behind', async () => {
    // A container left running must not survive either.
    await h2.docker(['run', '-d', '--name', 'lingering', TEST_IMAGE, 'sleep', '1000']);
    const pidsBefore = new Set<number>();
    for (const node of [h1, h2, client, lab.outside]) for (const p of await node.pids()) pidsBefore.add(p);
    const containerPid = Number((await h2.docker(['inspect', '-f', '{{.State.Pid}}', 'lingering'])).stdout.trim());
    assert.ok(containerPid > 0);
    pidsBefore.add(containerPid);
    assert.ok(pidsBefore.size >= 6, `expected holder+containerd+dockerd per host, got ${[...pidsBefore].join(' ')}`);
    const namesBefore = await lab.namespaces();
    assert.equal(namesBefore.length, 5, namesBefore.join(' ')); // sw, out, host1, host2, client1
    s = Date.now();
    await lab.destroy();
    destroyed = true;
    mark('destroy', s);
    await lab.destroy(); // idempotent
    const left = (await listNetns()).filter((ns) => ns.startsWith(lab.id));
    assert.deepEqual(left, []);
    const alive = [...pidsBefore].filter(pidAlive);
    assert.deepEqual(alive, [], `processes still alive: ${alive.join(' ')}`);
    assert.ok(!fs.existsSync(lab.dir), `${lab.dir} still exists`);
  });

  mark('total', t0);
  t.diagnostic(`timings (ms): ${JSON.stringify(timings)}`);
});
