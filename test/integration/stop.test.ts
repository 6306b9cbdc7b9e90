/*
 * Stopping the real plugin process: SIGTERM answers every request in flight, closes keep-alive
 * connections (idle ones at once, busy ones right after their answer) and exits promptly; and
 * `npm start` passes SIGTERM on to the plugin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { callOk, callPlugin } from '../support/plugin-client';
import { NetnsPlugin, TestNetns } from '../support/netns-plugin';
import { sleep, waitFor } from '../harness/exec';

const isRoot = process.getuid?.() === 0;
const P = `pnst${process.pid % 10000}`;
const POOL = 'podnet-10.244.0.0/16';
const REPO = join(__dirname, '..', '..', '..');

interface Answer {
  status: number;
  connection: string | undefined;
  at: number;
}

/** A call whose body is written in two parts: the request is in flight until finish() is called. */
function halfSentCall(socketPath: string, agent: Agent, path: string, body: string): { sent: Promise<void>; finish: () => Promise<void>; answer: Promise<Answer> } {
  let finish!: () => Promise<void>;
  let sent!: () => void;
  const sentP = new Promise<void>((resolve) => (sent = resolve));
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(
      { socketPath, agent, path, method: 'POST', headers: { 'Content-Length': String(Buffer.byteLength(body)) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, at: Date.now() }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 1), () => sent());
    // Resolves when the rest is handed to the kernel: the server can read all of it.
    finish = () => new Promise<void>((resolve) => req.end(body.slice(1), () => resolve()));
  });
  return { sent: sentP, finish, answer };
}

/** A call written in full; `sent` resolves once the whole request is in the socket (the kernel has it). */
function fullCall(socketPath: string, agent: Agent, path: string, body: string): { sent: Promise<void>; answer: Promise<Answer> } {
  const h = halfSentCall(socketPath, agent, path, body);
  return { sent: h.sent.then(() => h.finish()), answer: h.answer };
}

function exited(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('stopping the plugin', { skip: isRoot ? false : 'needs root' }, () => {
  let node: TestNetns;
  const plugins: NetnsPlugin[] = [];

  /** A fresh plugin (own state dir and socket) in the test namespace. No network: no iptables needed. */
  async function startPlugin(): Promise<NetnsPlugin> {
    const plugin = new NetnsPlugin(node, { PODNET_NODE_SUBNET: '10.244.1.0/24', PODNET_MTU: '1400' });
    plugins.push(plugin);
    await plugin.start();
    return plugin;
  }

  before(async () => {
    node = await TestNetns.create(`${P}-node`);
  });

  after(async () => {
    for (const p of plugins) await p.destroy();
    await node?.destroy();
  });

  test('SIGTERM answers every request in flight on keep-alive connections, then exits at once', async () => {
    const plugin = await startPlugin();
    const sock = plugin.socket;
    await callOk(sock, 'IpamDriver.RequestPool', { Pool: '10.244.0.0/16', SubPool: '', V6: false });
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    try {
      // Keep-alive connections, each used once: idle when SIGTERM comes.
      await Promise.all(Array.from({ length: 8 }, () => callOk(sock, 'Plugin.Activate', {}, agent)));
      // 32 requests in flight when SIGTERM comes: 16 whose body is only half sent (in flight for
      // as long as the test likes), and 16 address requests sent just before.
      const halves = Array.from({ length: 16 }, (_, i) =>
        i % 2 === 0
          ? halfSentCall(sock, agent, '/Plugin.Activate', '{}')
          : halfSentCall(sock, agent, '/IpamDriver.RequestAddress', JSON.stringify({ PoolID: POOL, Address: '' })),
      );
      await Promise.all(halves.map((h) => h.sent));
      const quick = Array.from({ length: 16 }, () => fullCall(sock, agent, '/IpamDriver.RequestAddress', JSON.stringify({ PoolID: POOL, Address: '' })));
      await Promise.all(quick.map((q) => q.sent));
      const pid = plugin.pid!;
      const exit = plugin.stop('SIGTERM');
      const termAt = Date.now();
      await sleep(300); // the plugin is stopping; the half-sent requests still wait for their body
      await Promise.all(halves.map((h) => h.finish()));
      const answers = await Promise.all([...halves.map((h) => h.answer), ...quick.map((q) => q.answer)]);
      const lastAnswer = Math.max(...answers.map((a) => a.at));
      assert.equal(await exit, 0, plugin.logs());
      const exitAt = Date.now();
      assert.ok(exited(pid));
      const statuses = answers.map((a) => a.status);
      assert.deepEqual(statuses, statuses.map(() => 200), `every request answered 200: ${statuses.join(' ')}`);
      for (const h of await Promise.all(halves.map((x) => x.answer))) {
        assert.equal(h.connection, 'close', 'an answer written while stopping says Connection: close');
      }
      assert.ok(exitAt - lastAnswer < 1000, `exit ${exitAt - lastAnswer} ms after the last answer (${exitAt - termAt} ms after SIGTERM)`);
    } finally {
      agent.destroy();
    }
  });

  test('SIGTERM with only idle keep-alive connections: exit within 1 s', async () => {
    const plugin = await startPlugin();
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      await Promise.all(Array.from({ length: 16 }, () => callOk(plugin.socket, 'Plugin.Activate', {}, agent)));
      const t0 = Date.now();
      assert.equal(await plugin.stop('SIGTERM'), 0, plugin.logs());
      const ms = Date.now() - t0;
      assert.ok(ms < 1000, `exited ${ms} ms after SIGTERM`);
    } finally {
      agent.destroy();
    }
  });

  test('npm start passes SIGTERM on: killing npm stops the plugin', async () => {
    const plugin = new NetnsPlugin(node); // only for its temp paths; npm starts the process
    plugins.push(plugin);
    const lockFile = join(plugin.stateDir, 'podnet.lock');
    // --ignore-scripts skips prestart (install + build: done already), not start itself.
    const npm = spawn('ip', ['netns', 'exec', node.name, 'npm', 'start', '--ignore-scripts', '--silent'], {
      cwd: REPO,
      stdio: 'ignore',
      env: { ...process.env, DEBUG: '', PODNET_SOCKET: plugin.socket, PODNET_STATE_DIR: plugin.stateDir, PODNET_NODE_SUBNET: '10.244.1.0/24', PODNET_MTU: '1400' },
    });
    const npmExit = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    let pluginPid: number | undefined;
    try {
      await waitFor(
        async () => existsSync(plugin.socket) && (await callPlugin(plugin.socket, 'Plugin.Activate', undefined).then(() => true, () => false)),
        15_000,
        'the plugin started by npm start answering',
      );
      pluginPid = Number(readFileSync(lockFile, 'utf8').trim());
      assert.ok(pluginPid > 0 && pluginPid !== npm.pid, `plugin pid ${pluginPid}, npm pid ${npm.pid}`);
      npm.kill('SIGTERM');
      await npmExit;
      const pid = pluginPid;
      await waitFor(async () => exited(pid), 3000, `the plugin (pid ${pid}) exiting after npm got SIGTERM`);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      if (pluginPid && !exited(pluginPid)) process.kill(pluginPid, 'SIGKILL');
    }
  });
});
