/**
 * Run inside a test namespace (`ip netns exec NS node veth-probe.js COUNT`): the kernel's share of
 * a Join, timed through the same long-lived `ip -batch` session podnet uses: an empty request
 * (the session's round trip) and the veth pair podnet makes per Join; and, for comparison, an
 * `ip` started per call. Prints JSON (ms lists).
 */
import { spawn } from 'node:child_process';
import { IpSession } from '../../src/dataplane/ip-session';

/** What one `ip` per call would cost: a new process for an empty request. */
function spawnIp(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['link', 'show', 'dev', 'lo'], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('close', () => resolve());
  });
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? '200');
  const make = new IpSession();
  const reap = new IpSession();
  const empty: number[] = [];
  const veth: number[] = [];
  const spawned: number[] = [];
  const time = async (lines: string[], into: number[]): Promise<void> => {
    const start = process.hrtime.bigint();
    const failed = await make.exec(lines);
    into.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (failed.length) throw new Error(`ip refused: ${JSON.stringify(failed)}`);
  };
  try {
    await make.exec(['link add pnprobebr type bridge', 'link set pnprobebr up']);
    for (let i = 0; i < count; i++) {
      await time([], empty);
      const host = `pnprobe${i}`;
      // The lines bridge.createVethPair sends (the MAC is left to the kernel here).
      await time([`link add ${host} mtu 1450 master pnprobebr up type veth peer name ptprobe${i} mtu 1450`, `link set ${host} type bridge_slave hairpin on`], veth);
      void reap.exec([`link del ${host}`]); // in the background, as podnet's reaper does
      if (i % 4 === 0) {
        const start = process.hrtime.bigint();
        await spawnIp();
        spawned.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
    await reap.exec(['link del pnprobebr']);
    process.stdout.write(JSON.stringify({ empty, veth, spawned }) + '\n');
  } finally {
    make.close();
    reap.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`veth-probe: ${err.message}\n`);
  process.exit(1);
});
