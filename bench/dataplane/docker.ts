/** The few docker CLI calls the data-plane phases make on a lab host. */
import type { TestHost } from '../../test/harness/lab';
import type { Endpoint } from './measure';

/** `docker ARGS` on the host; throws with stderr (and podnet's log tail, if podnet runs there). */
export async function docker(h: TestHost, args: readonly string[], timeoutMs = 90_000): Promise<string> {
  const r = await h.docker(args, { allowFail: true, timeoutMs });
  if (r.code !== 0) {
    const podnetLog = h.podnetPid !== undefined ? `\n--- podnet log ---\n${h.logs().slice(-1500)}` : '';
    throw new Error(`${h.name}: docker ${args.join(' ')}: ${r.stderr.trim().slice(0, 400)}${podnetLog}`);
  }
  return r.stdout.trim();
}

/** A container's network namespace (through its pid) and its address on `network`. */
export async function containerEndpoint(h: TestHost, name: string, network: string): Promise<Endpoint> {
  const out = await docker(h, ['inspect', '-f', `{{.State.Pid}} {{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name]);
  const [pid, ip] = out.split(/\s+/);
  if (!pid || !/^\d+$/.test(pid) || pid === '0' || !ip) throw new Error(`${h.name}: no pid/IP for container ${name} on ${network}: ${out}`);
  return { netns: `/proc/${pid}/ns/net`, ip };
}
