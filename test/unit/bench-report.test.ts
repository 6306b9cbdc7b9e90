/* The benchmark's statistics, target checks and report rendering (the measuring itself runs in `npm run bench`). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, ratio, summarize } from '../../bench/stats';
import { checkTargets } from '../../bench/targets';
import { fmtSummary, renderMarkdown, renderSvg, type BenchReport } from '../../bench/report';
import type { ControlPlaneResult, DataPathResult, DataPlaneResult, Summary } from '../../bench/types';

const s = (...v: number[]): Summary => summarize(v);

function controlPlane(over: { podnet?: number; joinP99?: number; at1000?: number; addMs?: number; rss?: number } = {}): ControlPlaneResult {
  return {
    attach: {
      none: s(400, 410),
      bridge: s(500, 500),
      userBridge: s(600, 600),
      podnet: s(over.podnet ?? 480, over.podnet ?? 480),
      podnetOverBridge: ratio(s(over.podnet ?? 480), s(500)),
      podnetOverUserBridge: ratio(s(over.podnet ?? 480), s(600)),
    },
    apiBaseline: { p50: s(0.3), p99: s(0.8) },
    joinKernel: { emptyRequest: { p50: s(0.1), p99: s(0.4) }, vethPair: { p50: s(0.7), p99: s(1.9) }, spawnedIp: { p50: s(8), p99: s(14) } },
    api: [
      {
        mode: 'sequential',
        concurrency: 1,
        cyclesPerTrial: 100,
        perCall: { 'NetworkDriver.Join': { p50: s(1.5), p99: s(over.joinP99 ?? 3) }, 'NetworkDriver.Leave': { p50: s(0.5), p99: s(1) } },
        cyclesPerSec: s(150),
        vethsGoneMs: s(500),
      },
    ],
    nodeScale: [
      { endpoints: 0, apiAttachMs: s(2, 2), dockerRunMs: s(500) },
      { endpoints: 1000, apiAttachMs: s(over.at1000 ?? 2.2, over.at1000 ?? 2.2), dockerRunMs: s(520) },
    ],
    clusterScale: [
      {
        peers: 250,
        topology: 'flow',
        fullReconcileMs: s(700, 800),
        fullReconcileLoggedMs: s(600),
        baselinePeers: 2,
        baselineReconcileMs: s(400),
        addNodeMs: s(300, over.addMs ?? 400),
        steadyReconcileLoggedMs: s(200),
        ovsPorts: 2,
        ovsFlows: 501,
        rssBaselineMb: 70,
        rssMb: over.rss ?? 80,
      },
    ],
    skipped: [],
    seconds: 60,
  };
}

function path(p: string, underlay: 'veth' | 'wire', gbit: number): DataPathResult {
  return { underlay, path: p, label: p, tcp1: s(gbit, gbit), tcp4: s(gbit * 1.5), pingUs: s(50), rrPerSec: s(10_000 / gbit) };
}

describe('bench statistics', () => {
  test('percentiles interpolate; summarize keeps raw values in order', () => {
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
    const x = summarize([5, 1, 3]);
    assert.deepEqual([x.median, x.min, x.max, x.n], [3, 1, 5, 3]);
    assert.deepEqual(x.values, [5, 1, 3]);
    assert.throws(() => summarize([]), /no values/);
  });

  test('a ratio pairs every trial of one side with every trial of the other', () => {
    const r = ratio(s(2, 4), s(1, 2));
    assert.equal(r.n, 4);
    assert.deepEqual([...r.values].sort((a, b) => a - b), [1, 2, 2, 4]);
  });
});

describe('bench targets', () => {
  test('all met on a good run', () => {
    const t = checkTargets(controlPlane());
    assert.deepEqual(t.map((x) => x.id), ['attach', 'api-p99', 'node-scale', 'cluster-add', 'cluster-reconcile', 'cluster-rss']);
    assert.ok(t.every((x) => x.met), JSON.stringify(t.filter((x) => !x.met)));
  });

  test('each miss is reported with the measured value and where the time goes', () => {
    const t = checkTargets(controlPlane({ podnet: 650, joinP99: 7, at1000: 3, addMs: 1500, rss: 120 }));
    const by = new Map(t.map((x) => [x.id, x]));
    assert.equal(by.get('attach')?.met, false);
    assert.match(by.get('attach')?.note ?? '', /user-defined bridge/);
    assert.equal(by.get('api-p99')?.measured, 7);
    assert.match(by.get('api-p99')?.note ?? '', /NetworkDriver\.Join p99 7\.00 ms.*GetCapabilities.*veth pair.*p99 1\.90 ms/);
    assert.equal(by.get('node-scale')?.met, false);
    assert.equal(by.get('cluster-add')?.measured, 1.5, 'the slowest trial counts');
    assert.equal(by.get('cluster-rss')?.met, false);
    assert.equal(by.get('cluster-reconcile')?.met, true);
  });
});

describe('bench report', () => {
  const dataPlane: DataPlaneResult = {
    paths: [path('underlay', 'veth', 10), path('podnet-gre-flow', 'veth', 1), path('underlay', 'wire', 5), path('podnet-gre-flow', 'wire', 0.5)],
    skipped: [{ path: 'docker-overlay', underlay: 'wire', reason: 'quick mode' }],
    seconds: 100,
  };
  const report: BenchReport = {
    startedAt: '2026-11-26T10:00:00.000Z',
    mode: 'quick',
    machine: { cpus: 2, kernel: '6.1', node: 'v20', memGb: 24 },
    controlPlane: controlPlane({ podnet: 650 }),
    dataPlane,
    targets: checkTargets(controlPlane({ podnet: 650 })),
    errors: [],
    seconds: 160,
  };

  test('Markdown: targets with misses marked, fractions of the underlay of the same kind, skipped cases named', () => {
    const md = renderMarkdown(report);
    assert.match(md, /\| container attach: podnet\/bridge <= 1\.0 .*\| 1\.30 \| <= 1 \| \*\*no\*\* \(30% over\)/);
    assert.match(md, /\| podnet-gre-flow \| 1\.00 \(1\.00-1\.00\) \| 0\.10 \(0\.10-0\.10\) \|/, 'veth: 1 of 10 Gbit/s');
    assert.match(md, /\| podnet-gre-flow \| 0\.50 \(0\.50-0\.50\) \| 0\.10 /, 'wire: 0.5 of 5 Gbit/s');
    assert.match(md, /Not measured: docker-overlay \(wire underlay\): quick mode/);
    assert.doesNotMatch(md, /NaN|undefined/);
  });

  test('SVG: one bar per path and underlay kind, labelled with the fraction', () => {
    const svg = renderSvg(report);
    assert.ok(svg.startsWith('<svg') && svg.trim().endsWith('</svg>'));
    assert.equal((svg.match(/<rect x="260" y="\d+" width="[\d.]+" height="14"/g) ?? []).length, 8, '2 paths x 2 underlays x 2 panels');
    assert.match(svg, />0\.10</);
    assert.doesNotMatch(svg, /NaN|undefined/);
  });

  test('a missing figure prints as n/a, not NaN', () => {
    assert.equal(fmtSummary(undefined), 'n/a');
  });
});
