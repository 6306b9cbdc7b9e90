import { createHash } from 'node:crypto';
import { request, type Agent } from 'node:http';

export interface PluginResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * POSTs one libnetwork call to a plugin socket, as Docker does (no Content-Type). An `agent`
 * with keep-alive reuses connections as Docker's client does (the benchmark times calls so).
 */
export function callPlugin(socketPath: string, path: string, body: unknown, agent?: Agent): Promise<PluginResponse> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, agent, path: path.startsWith('/') ? path : `/${path}`, method: 'POST', headers: { Accept: 'application/vnd.docker.plugins.v1.2+json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
          } catch {
            reject(new Error(`${path}: answer is not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${path}: no answer in 30 s`)));
    req.end(payload);
  });
}

/** Like callPlugin, but throws on an error answer, naming the call and Docker's Err text. */
export async function callOk(socketPath: string, path: string, body: unknown, agent?: Agent): Promise<Record<string, unknown>> {
  const r = await callPlugin(socketPath, path, body, agent);
  if (r.status !== 200) throw new Error(`${path} failed (${r.status}): ${String(r.body['Err'])}`);
  return r.body;
}

/** A 64-hex ID derived from a readable tag (distinct in its first 12 digits, as Docker's random IDs are). */
export function hexId(tag: string): string {
  return createHash('sha256').update(tag).digest('hex');
}
