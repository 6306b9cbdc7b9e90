/*
 * `podnet pod` against a real dockerd with podnet: an infra container holds the network and IPC
 * namespaces, app containers join it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLab, dockerLabSkipReason, REPO_ROOT, type Lab, type TestClient, type TestHost, type Spawned } from '../harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../harness/images';
import { sleep, waitFor } from '../harness/exec';

const skip = dockerLabSkipReason() ?? false;
const POD_ENV = { PODNET_INFRA_IMAGE: TEST_IMAGE, PODNET_INFRA_COMMAND: 'sleep 2147483647' };

const WEB = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: { app: web }
  annotations: { note: ignored }
spec:
  restartPolicy: Always
  containers:
    - name: server
      image: ${TEST_IMAGE}
      command: [sh, -c]
      args: ['echo server started; exec socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:"echo hello-from-server"']
      ports: [{ containerPort: 8080, hostPort: 18080 }]
    - name: client
      image: ${TEST_IMAGE}
      command: [sleep, '3600']
      env: [{ name: GREETING, value: hi }]
`;

interface Inspect {
  name: string;
  namespace: string;
  podIP: string;
  node: string;
  containers: { name: string; id: string; image: string; state: string; restartCount: number }[];
  hostPorts: { hostIP: string; hostPort: number; containerPort: number; protocol: string; container: string }[];
}

describe('podnet pod with a real dockerd', { skip, timeout: 300_000 }, () => {
  let lab: Lab;
  let host: TestHost;
  let client: TestClient;
  let watcher: Spawned | undefined;

  async function cli(args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
    const r = await host.exec([process.execPath, join(REPO_ROOT, 'bin', 'podnet.js'), 'pod', ...args], {
      allowFail: true,
      timeoutMs: 120_000,
      env: { ...process.env, ...POD_ENV },
      ...(input === undefined ? {} : { input }),
    });
    return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim() };
  }

  async function inspect(name: string): Promise<Inspect> {
    const r = await cli(['inspect', name]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as Inspect;
  }

  async function dexec(container: string, script: string): Promise<string> {
    const r = await host.docker(['exec', container, 'sh', '-c', script], { allowFail: true });
    return (r.stdout + r.stderr).trim();
  }

  before(async () => {
    lab = await createLab('pnp');
    host = await lab.addHost('node1', { docker: true });
    client = await lab.addClient('client');
    // A /29 holds 5 pods: leaked addresses would show up within a few run/rm cycles.
    await host.startPodnet({ PODNET_NODE_SUBNET: '10.244.1.0/29' });
    await ensureTestImage(host);
    const r = await host.docker(['network', 'create', '-d', 'podnet', '--ipam-driver', 'podnet', 'podnet'], { allowFail: true });
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    if (watcher && !watcher.hasExited) process.kill(watcher.pid, 'SIGTERM');
    await lab?.destroy();
  });

  test('apply: containers of a pod talk over 127.0.0.1, see the same IP on eth0 and share IPC', async () => {
    const r = await cli(['apply', '-f', '-'], WEB);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /ignored fields \(not supported\): metadata\.annotations/);
    await waitFor(async () => (await dexec('podnet_client_web_default', 'socat -T2 - TCP:127.0.0.1:8080')) === 'hello-from-server', 10_000, 'localhost inside the pod');
    const ipServer = await dexec('podnet_server_web_default', 'ip -4 -o addr show dev eth0');
    const ipClient = await dexec('podnet_client_web_default', 'ip -4 -o addr show dev eth0');
    assert.match(ipServer, /inet 10\.244\.1\.\d+\/16/);
    assert.equal(ipServer.replace(/^\d+:\s*/, ''), ipClient.replace(/^\d+:\s*/, ''), 'one IP for the pod');
    await dexec('podnet_server_web_default', 'echo shared-ipc > /dev/shm/token');
    assert.equal(await dexec('podnet_client_web_default', 'cat /dev/shm/token'), 'shared-ipc', 'IPC namespace (and /dev/shm) shared');
    assert.equal(await dexec('podnet_client_web_default', 'echo $GREETING'), 'hi');
  });

  test('inspect and ls describe the pod from Docker alone; logs shows a container\'s output', async () => {
    const p = await inspect('web');
    assert.equal(p.name, 'web');
    assert.equal(p.namespace, 'default');
    assert.match(p.podIP, /^10\.244\.1\.\d+$/);
    assert.ok((await dexec('podnet_server_web_default', 'ip -4 -o addr show dev eth0')).includes(`inet ${p.podIP}/16`));
    assert.deepEqual(p.containers.map((c) => [c.name, c.state]), [['POD', 'running'], ['client', 'running'], ['server', 'running']]);
    assert.deepEqual(p.hostPorts, [{ hostIP: '', hostPort: 18080, containerPort: 8080, protocol: 'TCP', container: 'server' }]);
    const ls = await cli(['ls']);
    assert.match(ls.out, new RegExp(`default\\s+web\\s+${p.podIP.replace(/\./g, '\\.')}\\s+\\S+\\s+client:running,server:running\\s+18080->8080/tcp`));
    const logs = await cli(['logs', 'web', '-c', 'server']);
    assert.equal(logs.out, 'server started');
  });

  test('the host port of a pod is reachable from another machine over the node address', async () => {
    const r = await client.exec(['socat', '-T3', '-', `TCP:${host.ip}:18080,connect-timeout=3`], { input: '', allowFail: true });
    assert.equal(r.stdout.trim(), 'hello-from-server');
  });

  test('applying the same manifest again changes nothing', async () => {
    const before = await inspect('web');
    const r = await cli(['apply', '-f', '-'], WEB);
    assert.match(r.out, /unchanged/);
    assert.deepEqual((await inspect('web')).containers.map((c) => c.id), before.containers.map((c) => c.id));
  });

  test('applying a changed manifest recreates only what changed; the hostname is the pod name', async () => {
    const before = await inspect('web');
    const r = await cli(['apply', '-f', '-'], WEB.replace('value: hi', 'value: hello'));
    assert.equal(r.code, 0, r.err);
    const after = await inspect('web');
    const id = (p: Inspect, n: string): string | undefined => p.containers.find((c) => c.name === n)?.id;
    assert.equal(id(after, 'POD'), id(before, 'POD'), 'infra kept');
    assert.equal(id(after, 'server'), id(before, 'server'), 'unchanged container kept');
    assert.notEqual(id(after, 'client'), id(before, 'client'), 'changed container recreated');
    assert.equal(after.podIP, before.podIP);
    await waitFor(async () => (await dexec('podnet_client_web_default', 'echo $GREETING')) === 'hello', 5000, 'new env');
    assert.equal(await dexec('podnet_server_web_default', 'hostname'), 'web');
  });

  test('an app container that crashes comes back (Always) with the same pod IP', async () => {
    const before = await inspect('web');
    // A crash, not `docker kill` (which Docker treats as a manual stop and does not restart).
    const pid = (await host.docker(['inspect', '-f', '{{.State.Pid}}', 'podnet_client_web_default'])).stdout.trim();
    await host.exec(['kill', '-9', pid]);
    await waitFor(async () => {
      const c = (await inspect('web')).containers.find((x) => x.name === 'client');
      return c?.state === 'running' && c.restartCount >= 1;
    }, 15_000, 'client restarted');
    assert.equal((await inspect('web')).podIP, before.podIP);
    assert.equal(await dexec('podnet_client_web_default', 'socat -T2 - TCP:127.0.0.1:8080'), 'hello-from-server');
  });

  test('pod watch recreates a pod whose infra container died', async () => {
    watcher = host.spawn([process.execPath, join(REPO_ROOT, 'bin', 'podnet.js'), 'pod', 'watch'], { env: POD_ENV });
    await sleep(1500);
    const before = await inspect('web');
    const infra = before.containers.find((c) => c.name === 'POD');
    await host.docker(['kill', infra?.id ?? '']);
    await waitFor(async () => {
      const now = await inspect('web').catch(() => undefined);
      const newInfra = now?.containers.find((c) => c.name === 'POD');
      return !!now && newInfra?.id !== infra?.id && newInfra?.state === 'running' && now.podIP !== '' && now.containers.every((c) => c.state === 'running');
    }, 20_000, 'pod recreated by the watcher');
    await waitFor(async () => (await dexec('podnet_client_web_default', 'socat -T2 - TCP:127.0.0.1:8080')) === 'hello-from-server', 10_000, 'localhost again');
    process.kill(watcher.pid, 'SIGTERM');
  });

  test('a failure halfway (missing image) removes what was made', async () => {
    const bad = WEB.replace('name: web', 'name: broken').replace(/image: (\S+)\n(\s+)command: \[sleep/, 'image: podnet-test/does-not-exist:1\n$2command: [sleep').replace('18080', '18081');
    const r = await cli(['apply', '-f', '-'], bad);
    assert.equal(r.code, 1);
    assert.match(r.err, /image podnet-test\/does-not-exist:1 is not on this host and could not be pulled/);
    const left = await host.docker(['ps', '-a', '--filter', 'label=io.podnet.pod.name=broken', '-q']);
    assert.equal(left.stdout.trim(), '', 'no orphan container');
    assert.doesNotMatch((await host.exec(['iptables-save', '-t', 'nat'])).stdout, /--dport 18081/, 'no leftover host port');
  });

  test('invalid manifests are refused before any container exists', async () => {
    const dup = WEB.replace('name: client', 'name: server').replace('name: web', 'name: dup');
    const r = await cli(['apply', '-f', '-'], dup);
    assert.equal(r.code, 1);
    assert.match(r.err, /server/);
    assert.equal((await host.docker(['ps', '-a', '--filter', 'label=io.podnet.pod.name=dup', '-q'])).stdout.trim(), '');
  });

  test('rm leaves no container and frees the IP: a /29 takes pod after pod', async () => {
    const r = await cli(['rm', 'web']);
    assert.equal(r.code, 0, r.err);
    assert.equal((await host.docker(['ps', '-a', '--filter', 'label=io.podnet.pod.name', '-q'])).stdout.trim(), '');
    for (let i = 0; i < 6; i++) {
      const run = await cli(['run', `quick${i}`, '--image', TEST_IMAGE, '-p', '18090:80', '--', 'sleep', '3600']);
      assert.equal(run.code, 0, `pod ${i}: ${run.err}`);
      assert.match((await inspect(`quick${i}`)).podIP, /^10\.244\.1\.[2-6]$/);
      assert.equal((await cli(['rm', `quick${i}`])).code, 0);
    }
  });
});
