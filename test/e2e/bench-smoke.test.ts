/*
 * `npm run bench -- --quick` end to end, into a temporary folder: the benchmark keeps working
 * (both halves measure, the report is written in its three forms) and leaves nothing behind.
 * The figures themselves are not judged here: that is what the report is for.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerLabSkipReason, ovsLabSkipReason, REPO_ROOT } from '../harness/lab';
import { run } from '../harness/exec';
import type { BenchReport } from '../../bench/report';

const skip = dockerLabSkipReason() ?? ovsLabSkipReason() ?? false;

describe('benchmark, quick mode', { skip, timeout: 360_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'podnet-bench-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  test('measures the control and the data plane, writes JSON, Markdown and SVG, leaves no namespace', async () => {
    const r = await run([process.execPath, join(REPO_ROOT, 'dist', 'bench', 'main.js'), '--quick', '--out', out], { allowFail: true, timeoutMs: 330_000 });
    assert.equal(r.code, 0, `bench exited ${r.code}:\n${r.stderr.slice(-3000)}`);
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchReport;
    assert.deepEqual(report.errors, []);
    assert.ok(report.seconds < 180, `quick mode took ${report.seconds} s (limit 3 minutes)`);
    const cp = report.controlPlane;
    assert.ok(cp, 'control plane measured');
    assert.ok(cp.attach.podnet.median > 0 && cp.attach.bridge.median > 0);
    assert.ok((cp.api[0]?.perCall['NetworkDriver.Join']?.p50.n ?? 0) >= 2, 'Join timed over repeated trials');
    assert.deepEqual(cp.nodeScale.map((l) => l.endpoints), [0, 250, 1000]);
    assert.equal(cp.clusterScale[0]?.ovsFlows, 501, '250 peers: 2 flows each and the tunnel flow');
    const paths = new Map(report.dataPlane?.paths.map((p) => [p.path, p]) ?? []);
    for (const id of ['underlay', 'podnet-gre-flow', 'kernel-vxlan', 'direct-routing']) {
      assert.ok((paths.get(id)?.tcp1.median ?? 0) > 0, `${id}: TCP measured`);
    }
    assert.deepEqual(report.targets.map((t) => t.id), ['attach', 'api-p99', 'node-scale', 'cluster-add', 'cluster-reconcile', 'cluster-rss']);
    assert.match(readFileSync(join(out, 'latest.md'), 'utf8'), /^# podnet benchmark[\s\S]*## Targets[\s\S]*## Data plane/);
    assert.match(readFileSync(join(out, 'latest.svg'), 'utf8'), /^<svg [\s\S]*<\/svg>\n$/);
    const ns = (await run(['ip', 'netns', 'list'])).stdout;
    assert.doesNotMatch(ns, /^pnb/m, 'the benchmark removed its test hosts');
  });
});
