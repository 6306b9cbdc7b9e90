/**
 * TCP request/response rate, run inside a pod's network namespace (nsenter ... node rr.js):
 *   node rr.js server PORT                 echo every byte back, forever (killed by pid)
 *   node rr.js client HOST PORT SECONDS    1-byte request, wait for the 1-byte answer, repeat on
 *                                          one connection; prints {"transactions":N,"seconds":S,"perSec":R}
 * The rate is bounded by the round trip plus the cost of one event-loop turn on each side, which
 * is the same for every path measured, so paths compare fairly (absolute values are below what a C
 * tool like netperf TCP_RR reports).
 */
import * as net from 'node:net';

const CONNECT_TIMEOUT_MS = 5000;
/** Transactions of the first moments are not counted (connection and JIT warm-up). */
const WARMUP_MS = 200;

function serve(port: number): void {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('data', (d) => sock.write(d));
    sock.on('error', () => sock.destroy());
  });
  server.listen(port, '0.0.0.0', () => process.stdout.write(`listening ${port}\n`));
}

function client(host: string, port: number, seconds: number): void {
  const sock = net.createConnection({ host, port });
  const ONE = Buffer.from([0x61]);
  const timer = setTimeout(() => fail(`no connection to ${host}:${port} within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
  let start = 0n;
  let counting = false;
  let count = 0;
  const warmupEnd = (): bigint => start + BigInt(WARMUP_MS) * 1_000_000n;
  const end = (): bigint => warmupEnd() + BigInt(Math.round(seconds * 1e9));
  sock.setNoDelay(true);
  sock.on('connect', () => {
    clearTimeout(timer);
    start = process.hrtime.bigint();
    sock.write(ONE);
  });
  sock.on('data', (d) => {
    const now = process.hrtime.bigint();
    if (!counting && now >= warmupEnd()) {
      counting = true;
      start = now - BigInt(WARMUP_MS) * 1_000_000n;
      count = 0;
    }
    if (counting) count += d.length;
    if (counting && now >= end()) {
      const took = Number(now - warmupEnd()) / 1e9;
      process.stdout.write(JSON.stringify({ transactions: count, seconds: took, perSec: count / took }) + '\n');
      sock.destroy();
      return;
    }
    sock.write(ONE);
  });
  sock.on('error', (err) => fail(err.message));
}

function fail(message: string): never {
  process.stderr.write(`rr: ${message}\n`);
  process.exit(1);
}

function main(argv: readonly string[]): void {
  const [mode, a, b, c] = argv;
  if (mode === 'server' && a) return serve(Number(a));
  if (mode === 'client' && a && b && c) return client(a, Number(b), Number(c));
  fail('usage: rr.js server PORT | rr.js client HOST PORT SECONDS');
}

if (require.main === module) main(process.argv.slice(2));
