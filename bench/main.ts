/**
 * `npm run bench [-- --quick] [-- --only control|data]`: measures podnet against Docker's own
 * drivers and against the host in one run, in test namespaces only, and writes
 * bench/results/<timestamp>.{json,md,svg} plus latest.*.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, cleanupStale } from '../test/harness/lab';
import { runControlPlane } from './control-plane/index';
import { runDataPlane } from './dataplane/index';
import { renderMarkdown, renderSvg, type BenchReport } from './report';
import { checkTargets } from './targets';
import type { BenchOptions, ControlPlaneResult, DataPlaneResult } from './types';

const USAGE = 'usage: npm run bench [-- --quick] [-- --only control|data] [-- --out DIR] | npm run bench -- --render RESULT.json';

interface Args {
  readonly quick: boolean;
  readonly only: 'control' | 'data' | undefined;
  /** Re-render the Markdown and SVG of an earlier run's JSON (after a change to the report). */
  readonly render: string | undefined;
  /** Where the report goes (default bench/results; the test suite's smoke run uses a temp dir). */
  readonly out: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  let quick = false;
  let only: Args['only'];
  let render: string | undefined;
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--only') {
      const v = argv[++i];
      if (v !== 'control' && v !== 'data') throw new Error(`--only takes control or data (got ${v ?? 'nothing'}); ${USAGE}`);
      only = v;
    } else if (a === '--out') {
      out = argv[++i];
      if (!out) throw new Error(`--out takes a folder; ${USAGE}`);
    } else if (a === '--render') {
      render = argv[++i];
      if (!render) throw new Error(`--render takes the path of a result .json; ${USAGE}`);
    } else throw new Error(`unknown argument ${a}; ${USAGE}`);
  }
  return { quick, only, render, out };
}

function rerender(file: string): number {
  const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  const base = file.replace(/\.json$/, '');
  writeFileSync(`${base}.md`, renderMarkdown(report));
  writeFileSync(`${base}.svg`, renderSvg(report));
  process.stderr.write(`podnet bench: wrote ${base}.md and ${base}.svg\n`);
  return 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) return rerender(args.render);
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root: it builds test hosts in network namespaces (run it as root)');
  const started = new Date();
  const t0 = Date.now();
  const log = (line: string): void => {
    process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  };
  const opts: BenchOptions = { quick: args.quick, log };
  const errors: { part: string; error: string }[] = [];
  let controlPlane: ControlPlaneResult | undefined;
  let dataPlane: DataPlaneResult | undefined;
  // Leftovers of an interrupted earlier run would skew this one.
  cleanupStale('pnbc');
  if (args.only !== 'data') {
    log(`control plane (${args.quick ? 'quick' : 'full'})`);
    controlPlane = await runControlPlane(opts).catch((err: Error) => {
      errors.push({ part: 'control plane', error: err.stack ?? err.message });
      return undefined;
    });
  }
  if (args.only !== 'control') {
    log(`data plane (${args.quick ? 'quick' : 'full'})`);
    dataPlane = await runDataPlane(opts).catch((err: Error) => {
      errors.push({ part: 'data plane', error: err.stack ?? err.message });
      return undefined;
    });
  }
  const report: BenchReport = {
    startedAt: started.toISOString(),
    mode: args.quick ? 'quick' : 'full',
    machine: { cpus: cpus().length, kernel: release(), node: process.version, memGb: totalmem() / 2 ** 30 },
    ...(controlPlane ? { controlPlane } : {}),
    ...(dataPlane ? { dataPlane } : {}),
    targets: controlPlane ? checkTargets(controlPlane) : [],
    errors,
    seconds: (Date.now() - t0) / 1000,
  };
  const dir = args.out ?? join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const files = {
    json: JSON.stringify(report, null, 2) + '\n',
    md: renderMarkdown(report),
    svg: renderSvg(report),
  };
  for (const [ext, text] of Object.entries(files)) {
    const file = join(dir, `${stamp}.${ext}`);
    writeFileSync(file, text);
    copyFileSync(file, join(dir, `latest.${ext}`));
  }
  log(`report: ${join(dir, stamp)}.{json,md,svg} (and latest.*), ${report.seconds.toFixed(0)} s`);
  process.stdout.write(files.md);
  for (const e of errors) log(`FAILED: ${e.part}: ${e.error.split('\n')[0]}`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`podnet bench: ${err.message}\n`);
    process.exit(2);
  },
);
