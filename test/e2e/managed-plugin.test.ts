/*
 * podnet as a managed (v2) plugin, built with plugin/build.sh on an offline base (no registry),
 * installed in a test host's dockerd: set, enable, use, disable -f / enable with containers
 * running, the offline upgrade path, and a dockerd restart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLab, dockerLabSkipReason, REPO_ROOT, type Lab, type TestHost } from '../harness/lab';
import { ensureTestImage, TEST_IMAGE } from '../harness/images';
import { run, waitFor } from '../harness/exec';

const skip = dockerLabSkipReason() ?? false;
const PLUGIN = 'podnet/podnet:latest';
const BASE = 'podnet/base:bookworm-node20';

describe('managed plugin podnet/podnet:latest', { skip, timeout: 900_000 }, () => {
  let lab: Lab;
  let host: TestHost;

  async function docker(...args: string[]): Promise<string> {
    const r = await host.docker(args, { allowFail: true, timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr.trim()}\n--- dockerd log ---\n${host.readLog('dockerd.log').split('\n').filter((l) => /podnet|plugin/i.test(l)).slice(-20).join('\n')}`);
    return r.stdout.trim();
  }

  async function ping(from: string, to: string): Promise<number> {
    return (await host.docker(['exec', from, 'ping', '-c1', '-W2', to], { allowFail: true })).code;
  }

  async function ipOf(c: string): Promise<string> {
    return docker('inspect', '-f', '{{(index .NetworkSettings.Networks "podnet").IPAddress}}', c);
  }

  async function buildPlugin(): Promise<void> {
    const r = await host.exec(['bash', join(REPO_ROOT, 'plugin', 'build.sh')], {
      env: { ...process.env, PODNET_BASE_IMAGE: BASE },
      allowFail: true,
      timeoutMs: 600_000,
      cwd: REPO_ROOT,
    });
    assert.equal(r.code, 0, `plugin/build.sh failed: ${r.stderr.slice(-3000)}`);
  }

  before(async () => {
    // The offline base is made outside the test host (debootstrap needs the Debian mirror; the
    // test host has no way out), cached in this checkout for the rest of the run.
    const tarball = (await run(['bash', join(REPO_ROOT, 'plugin', 'build.sh'), 'base-tarball'], { timeoutMs: 600_000 })).stdout.trim();
    lab = await createLab('pnk');
    host = await lab.addHost('node1', { docker: true });
    await ensureTestImage(host);
    await host.docker(['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '-', BASE], { inputFile: tarball, timeoutMs: 300_000 });
    // The manifest mounts /run/openvswitch; a single-node host without OVS needs the folder.
    await host.exec(['mkdir', '-p', '/run/openvswitch']);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('build, set a setting, enable; network create, two containers ping; the setting took effect', async () => {
    await buildPlugin();
    assert.match(await docker('plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}'), /podnet\/podnet:latest false/);
    await docker('plugin', 'set', PLUGIN, 'PODNET_MTU=1400');
    await docker('plugin', 'enable', PLUGIN);
    await docker('network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, 'podnet');
    await docker('run', '-d', '--name', 'm1', '--network', 'podnet', TEST_IMAGE, 'sleep', '3600');
    await docker('run', '-d', '--name', 'm2', '--network', 'podnet', TEST_IMAGE, 'sleep', '3600');
    assert.equal(await ping('m1', await ipOf('m2')), 0);
    assert.equal(await docker('exec', 'm1', 'cat', '/sys/class/net/eth0/mtu'), '1400', 'PODNET_MTU set with docker plugin set');
  });

  test('disable -f and enable again with containers running: they keep their network', async () => {
    const m2 = await ipOf('m2');
    await docker('plugin', 'disable', '-f', PLUGIN);
    assert.equal(await ping('m1', m2), 0, 'while disabled');
    await docker('plugin', 'enable', PLUGIN);
    assert.equal(await ping('m1', m2), 0, 'after enable');
    await docker('run', '-d', '--name', 'm3', '--network', 'podnet', TEST_IMAGE, 'sleep', '3600');
    assert.equal(await ping('m3', m2), 0, 'a new container attaches');
  });

  test('offline upgrade (disable -f, rm -f, create a rebuilt plugin, enable): old network and containers work, new ones attach', async () => {
    await docker('plugin', 'disable', '-f', PLUGIN);
    await buildPlugin(); // rm -f + create under the same name
    await docker('plugin', 'set', PLUGIN, 'PODNET_MTU=1400');
    await docker('plugin', 'enable', PLUGIN);
    assert.equal(await ping('m1', await ipOf('m2')), 0);
    await docker('run', '-d', '--name', 'm4', '--network', 'podnet', TEST_IMAGE, 'sleep', '3600');
    const ips = await Promise.all(['m1', 'm2', 'm3', 'm4'].map(ipOf));
    assert.equal(new Set(ips).size, 4, `no duplicate address after the upgrade: ${ips.join(' ')}`);
    assert.equal(await ping('m4', ips[0] as string), 0);
  });

  test('dockerd restart with the plugin enabled: the old network works and new containers attach', async () => {
    await host.stopDocker();
    await host.startDocker();
    await waitFor(async () => (await host.docker(['plugin', 'ls', '--format', '{{.Enabled}}'], { allowFail: true })).stdout.trim() === 'true', 30_000, 'plugin enabled again');
    await docker('rm', '-f', 'm1', 'm2', 'm3', 'm4');
    await docker('run', '-d', '--name', 'r1', '--network', 'podnet', TEST_IMAGE, 'sleep', '3600');
    await docker('run', '-d', '--name', 'r2', '--network', 'podnet', TEST_IMAGE, 'sleep', '3600');
    assert.equal(await ping('r1', await ipOf('r2')), 0);
  });

  test('everything can be removed', async () => {
    await docker('rm', '-f', 'r1', 'r2');
    await docker('network', 'rm', 'podnet');
    await docker('plugin', 'disable', PLUGIN);
    await docker('plugin', 'rm', PLUGIN);
    assert.equal(await docker('plugin', 'ls', '-q'), '');
    assert.notEqual((await host.exec(['ip', 'link', 'show', 'kbr0'], { allowFail: true })).code, 0, 'kbr0 gone with the network');
  });
});
