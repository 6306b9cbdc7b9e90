import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../src/settings';

interface Manifest {
  interface: { types: string[]; socket: string };
  network: { type: string };
  entrypoint: string[];
  linux: { capabilities: string[] };
  mounts: { name: string; source: string; destination: string; type: string; options: string[] }[];
  env: { name: string; value: string; description: string; settable: string[] }[];
}

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'config.json'), 'utf8')) as Manifest;

test('config.json: a network and IPAM plugin on podnet.sock, host network, the capabilities it needs', () => {
  assert.deepEqual(manifest.interface, { types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'], socket: 'podnet.sock' });
  assert.equal(manifest.network.type, 'host');
  assert.deepEqual([...manifest.linux.capabilities].sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
  assert.deepEqual(manifest.entrypoint, ['/usr/bin/node', '/opt/podnet/bin/podnet.js', 'serve']);
});

test('config.json: mounts the state dir, the /etc/podnet folder, /run/openvswitch and the host /proc', () => {
  const m = Object.fromEntries(manifest.mounts.map((x) => [x.destination, x.source]));
  assert.deepEqual(m, { '/var/lib/podnet': '/var/lib/podnet', '/etc/podnet': '/etc/podnet', '/run/openvswitch': '/run/openvswitch', '/host/proc': '/proc' });
  for (const x of manifest.mounts) assert.deepEqual([x.type, x.options], ['bind', ['rbind', 'rw']]);
});

test('config.json: every PODNET_* setting but the socket and the state dir is settable, with its default and a description', () => {
  const fixed = new Set(['PODNET_SOCKET', 'PODNET_STATE_DIR']);
  const want = Object.keys(SETTINGS).filter((k) => !fixed.has(k)).sort();
  const got = manifest.env.filter((e) => e.name.startsWith('PODNET_'));
  assert.deepEqual(got.map((e) => e.name).sort(), want);
  for (const e of got) {
    assert.equal(e.value, SETTINGS[e.name]?.default ?? '', `${e.name} default`);
    assert.ok(e.description.length > 10, `${e.name} described`);
    assert.deepEqual(e.settable, ['value']);
  }
});
