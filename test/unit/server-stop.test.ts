/**
 * closeServer over a plugin server (no root needed; the real process is in
 * test/integration/stop.test.ts): requests in flight are answered with Connection: close, idle
 * keep-alive connections do not hold the stop up.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { closeServer, createApp, createPluginServer } from '../../src/api/server';
import { listenOnSocket } from '../../src/api/socket';
import type { Route } from '../../src/api/routes';
import { tempDir } from './helpers';

const anything = { safeParse: (b: unknown) => ({ success: true, data: b }) } as unknown as Route['schema'];
const ROUTES: Record<string, Route> = {
  '/Plugin.Activate': { schema: anything, immediate: true, call: async () => ({ Implements: [] }) },
};

function post(socketPath: string, agent: Agent, body: string): { finish: () => void; answer: Promise<{ status: number; connection?: string }> } {
  let finish!: () => void;
  const answer = new Promise<{ status: number; connection?: string }>((resolve, reject) => {
    const req = request({ socketPath, agent, path: '/Plugin.Activate', method: 'POST', headers: { 'Content-Length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 1));
    finish = () => req.end(body.slice(1));
  });
  return { finish, answer };
}

describe('closeServer', () => {
  test('answers requests in flight with Connection: close; idle keep-alive connections do not delay it', async () => {
    const t = tempDir();
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      const sock = join(t.dir, 'p.sock');
      const server = createPluginServer(createApp(ROUTES, async () => undefined));
      await listenOnSocket(server, sock);
      // Four idle keep-alive connections.
      const warm = Array.from({ length: 4 }, () => post(sock, agent, '{}'));
      warm.forEach((w) => w.finish());
      for (const w of warm) assert.equal((await w.answer).status, 200);
      // Four in flight: body half sent.
      const busy = Array.from({ length: 4 }, () => post(sock, agent, '{}'));
      await new Promise((r) => setTimeout(r, 20));
      const started = Date.now();
      const closed = closeServer(server, 5000);
      await new Promise((r) => setTimeout(r, 50));
      busy.forEach((b) => b.finish());
      for (const b of busy) assert.deepEqual(await b.answer, { status: 200, connection: 'close' });
      await closed;
      assert.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
    } finally {
      agent.destroy();
      t.remove();
    }
  });
});
