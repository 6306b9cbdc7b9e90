/** The report of one run: JSON (everything, raw trials included), Markdown tables, an SVG chart. */
import { ratio } from './stats';
import type { ControlPlaneResult, DataPathResult, DataPlaneResult, Summary, TargetCheck } from './types';

export interface BenchReport {
  readonly startedAt: string;
  readonly mode: 'quick' | 'full';
  readonly machine: { readonly cpus: number; readonly kernel: string; readonly node: string; readonly memGb: number };
  readonly controlPlane?: ControlPlaneResult;
  readonly dataPlane?: DataPlaneResult;
  readonly targets: readonly TargetCheck[];
  /** Parts that failed outright, with the error (the rest of the report still stands). */
  readonly errors: readonly { readonly part: string; readonly error: string }[];
  readonly seconds: number;
}

/** "median (p25-p75)", the form every figure takes in the tables. */
export function fmtSummary(s: Summary | undefined, digits = 2): string {
  if (!s || !Number.isFinite(s.median)) return 'n/a';
  const f = (n: number): string => n.toFixed(digits);
  return s.n > 1 ? `${f(s.median)} (${f(s.p25)}-${f(s.p75)})` : f(s.median);
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The underlay row a path is compared with (same underlay kind). */
export function underlayOf(dp: DataPlaneResult, p: DataPathResult): DataPathResult | undefined {
  return dp.paths.find((u) => u.path === 'underlay' && u.underlay === p.underlay);
}

/**
 * Note clauses shared by several rows become numbered footnotes, so each row keeps only what is
 * its own. Returns the rewritten note per row key and the footnote texts.
 */
function footnotes(dp: DataPlaneResult): { noteOf: (p: DataPathResult) => string; notes: string[] } {
  const parts = (p: DataPathResult): string[] => (p.notes ?? '').split('; ').map((x) => x.trim()).filter(Boolean);
  const count = new Map<string, number>();
  for (const p of dp.paths) for (const x of new Set(parts(p))) count.set(x, (count.get(x) ?? 0) + 1);
  const shared = [...count].filter(([, n]) => n >= 3).map(([x]) => x);
  const noteOf = (p: DataPathResult): string =>
    parts(p)
      .map((x) => (shared.includes(x) ? `[${shared.indexOf(x) + 1}]` : x))
      .join('; ');
  return { noteOf, notes: shared.map((x, i) => `[${i + 1}] ${x}.`) };
}

/** Latency: how many times the underlay's round trip (1.0 = as fast as the underlay). */
function dataRows(dp: DataPlaneResult, kind: 'veth' | 'wire', noteOf: (p: DataPathResult) => string): string[][] {
  return dp.paths
    .filter((p) => p.underlay === kind)
    .map((p) => {
      const u = underlayOf(dp, p);
      const frac = (a: Summary, b: Summary | undefined): string => (b ? fmtSummary(ratio(a, b)) : 'n/a');
      return [
        p.label,
        fmtSummary(p.tcp1),
        frac(p.tcp1, u?.tcp1),
        fmtSummary(p.tcp4),
        frac(p.tcp4, u?.tcp4),
        fmtSummary(p.pingUs, 0),
        frac(p.pingUs, u?.pingUs),
        fmtSummary(p.rrPerSec, 0),
        frac(p.rrPerSec, u?.rrPerSec),
        noteOf(p),
      ];
    });
}

/** Pairs of paths whose ratio isolates one hop or one choice, when both were measured. */
const COMPARISONS: readonly { num: string; den: string; what: string }[] = [
  { num: 'underlay-brphy', den: 'underlay', what: 'the userspace OVS datapath on the underlay itself (host to host through brphy vs plain eth0)' },
  { num: 'podnet-gre-flow', den: 'underlay-brphy', what: 'podnet pod to pod (GRE, flow) vs its own hosts\' OVS underlay: what the pod-side hops and the tunnel add' },
  { num: 'kbr0-obr0', den: 'kbr0-only', what: 'leaving the kernel bridge for userspace OVS, same node (kbr0 -> obr0 -> pod vs kbr0 -> pod)' },
  { num: 'kbr0-obr0', den: 'obr0-only', what: 'the kbr0 -> obr0 hop itself: pod behind kbr0 vs pods plugged straight into obr0, same node' },
  { num: 'podnet-gre-flow', den: 'docker-overlay', what: 'podnet (GRE, flow, userspace OVS) vs Docker\'s overlay (kernel VXLAN)' },
  { num: 'kernel-vxlan', den: 'underlay', what: 'a kernel VXLAN pod path (Linux bridge + vxlan device)' },
  { num: 'direct-routing', den: 'underlay', what: 'direct routing, no encapsulation: the practical limit for any pod path here' },
];

function costLines(dp: DataPlaneResult): string[] {
  const find = (id: string): DataPathResult | undefined => dp.paths.find((p) => p.path === id && p.underlay === 'veth');
  const lines: string[] = [];
  for (const c of COMPARISONS) {
    const a = find(c.num);
    const b = find(c.den);
    if (!a || !b) continue;
    const t = ratio(a.tcp1, b.tcp1).median;
    const rr = ratio(a.rrPerSec, b.rrPerSec).median;
    const change = t <= 1 ? `${((1 - t) * 100).toFixed(0)}% lost` : `${((t - 1) * 100).toFixed(0)}% more, within run-to-run noise`;
    lines.push(`- ${c.what}: ${c.num} / ${c.den} = ${t.toFixed(2)} of the throughput (${change}), ${rr.toFixed(2)} of the transaction rate.`);
  }
  return lines;
}

export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [];
  out.push(`# podnet benchmark, ${r.startedAt} (${r.mode} mode, ${r.seconds.toFixed(0)} s)`);
  out.push('');
  out.push(`Machine: ${r.machine.cpus} CPUs, ${r.machine.memGb.toFixed(0)} GB, kernel ${r.machine.kernel}, Node ${r.machine.node}.`);
  out.push('Every figure is the median over trials with the interquartile range in brackets; ratios pair every trial of one side with every trial of the other. Absolute numbers drift between runs on shared machines: read the ratios, which are measured within this run.');
  out.push('');
  out.push('## Targets');
  out.push('');
  out.push(
    table(
      ['target', 'measured', 'limit', 'met', 'where the time goes'],
      r.targets.map((t) => [t.statement, t.measured.toFixed(2), `${t.kind === 'max' ? '<=' : '>='} ${t.limit}`, t.met ? 'yes' : `**no** (${((t.measured / t.limit - 1) * 100).toFixed(0)}% over)`, t.note ?? '']),
    ),
  );
  for (const e of r.errors) out.push('', `**${e.part} failed:** ${e.error}`);
  const cp = r.controlPlane;
  if (cp) {
    out.push('', '## Control plane', '');
    out.push('### Container attach: `docker run --rm --network X img true` (ms)', '');
    out.push(
      table(
        ['network', 'wall time (ms)', 'x default bridge'],
        [
          ['none', fmtSummary(cp.attach.none, 0), fmtSummary(ratio(cp.attach.none, cp.attach.bridge))],
          ['bridge (Docker default)', fmtSummary(cp.attach.bridge, 0), '1.00'],
          ['user-defined bridge network', fmtSummary(cp.attach.userBridge, 0), fmtSummary(ratio(cp.attach.userBridge, cp.attach.bridge))],
          ['podnet', fmtSummary(cp.attach.podnet, 0), fmtSummary(cp.attach.podnetOverBridge)],
        ],
      ),
    );
    out.push('', `podnet / user-defined bridge: ${fmtSummary(cp.attach.podnetOverUserBridge)}.`);
    out.push('', '### Plugin API over the socket: CreateEndpoint + Join + Leave + DeleteEndpoint cycles (with RequestAddress / ReleaseAddress)', '');
    out.push(`A call that does nothing (GetCapabilities): p50 ${fmtSummary(cp.apiBaseline.p50)} ms, p99 ${fmtSummary(cp.apiBaseline.p99)} ms.`);
    out.push(
      `The kernel's share of a Join, through podnet's long-lived \`ip -batch\` session in a test namespace: the veth pair takes p50 ${fmtSummary(cp.joinKernel.vethPair.p50)} ms, ` +
        `p99 ${fmtSummary(cp.joinKernel.vethPair.p99)} ms; an empty request on the session p50 ${fmtSummary(cp.joinKernel.emptyRequest.p50)} ms, p99 ${fmtSummary(cp.joinKernel.emptyRequest.p99)} ms ` +
        `(an \`ip\` started per call instead: p50 ${fmtSummary(cp.joinKernel.spawnedIp.p50)} ms, p99 ${fmtSummary(cp.joinKernel.spawnedIp.p99)} ms, before any work).`,
      '',
    );
    for (const run of cp.api) {
      out.push(`**${run.mode}${run.mode === 'concurrent' ? ` (${run.concurrency} at a time)` : ''}**, ${run.cyclesPerTrial} cycles per trial: ${fmtSummary(run.cyclesPerSec, 1)} cycles/s; the kernel had removed every veth ${fmtSummary(run.vethsGoneMs, 0)} ms after the last Leave.`, '');
      out.push(
        table(
          ['call', 'p50 (ms)', 'p99 (ms)', 'p99 / no-op p99'],
          Object.entries(run.perCall).map(([name, l]) => [name, fmtSummary(l.p50), fmtSummary(l.p99), fmtSummary(ratio(l.p99, cp.apiBaseline.p99))]),
        ),
        '',
      );
    }
    out.push('### Scale on one node (PODNET_NODE_SUBNET=10.244.4.0/22; background endpoints made over the socket, each with its veth on kbr0)', '');
    const base = cp.nodeScale[0];
    out.push(
      table(
        ['endpoints present', 'attach over the API (ms)', 'x at 0', 'docker run (ms)', 'x at 0'],
        cp.nodeScale.map((l) => [
          String(l.endpoints),
          fmtSummary(l.apiAttachMs),
          base ? fmtSummary(ratio(l.apiAttachMs, base.apiAttachMs)) : '',
          fmtSummary(l.dockerRunMs, 0),
          base ? fmtSummary(ratio(l.dockerRunMs, base.dockerRunMs)) : '',
        ]),
      ),
    );
    for (const c of cp.clusterScale) {
      out.push('', `### Scale of the cluster: ${c.peers} peers, ${c.topology} topology (GRE, peers exist only as configuration)`, '');
      out.push(
        table(
          ['measure', 'value', `baseline (${c.baselinePeers} peers)`, 'ratio'],
          [
            ['full reconcile, obr0 removed then SIGHUP, until every flow/port is back (ms)', fmtSummary(c.fullReconcileMs, 0), fmtSummary(c.baselineReconcileMs, 0), fmtSummary(ratio(c.fullReconcileMs, c.baselineReconcileMs))],
            ['the same, as podnet logs it (ms)', fmtSummary(c.fullReconcileLoggedMs, 0), '', ''],
            ['one node added: file written, until its flows/port are in (ms)', fmtSummary(c.addNodeMs, 0), '', ''],
            ['a reconcile with nothing to change, as logged (ms)', fmtSummary(c.steadyReconcileLoggedMs, 0), '', ''],
            ['OVS ports on obr0', String(c.ovsPorts), '', ''],
            ['OpenFlow flows on obr0', String(c.ovsFlows), '', ''],
            ['plugin RSS (MB)', c.rssMb.toFixed(1), c.rssBaselineMb.toFixed(1), (c.rssMb / c.rssBaselineMb).toFixed(2)],
          ],
        ),
      );
    }
    for (const s of cp.skipped) out.push('', `Not measured: ${s.part}: ${s.reason}.`);
  }
  const dp = r.dataPlane;
  if (dp) {
    out.push('', '## Data plane: pod to pod across two test hosts', '');
    out.push('Throughput: iperf3 TCP, Gbit/s. Latency: ping round trip (µs) and TCP request/response transactions per second (1 byte each way, one connection). "of underlay" divides by the underlay row of the same underlay kind: for throughput and transactions 1.0 is the underlay\'s figure; for ping it is how many times the underlay\'s round trip.');
    const fn = footnotes(dp);
    for (const kind of ['veth', 'wire'] as const) {
      const rows = dataRows(dp, kind, fn.noteOf);
      if (rows.length === 0) continue;
      out.push('', kind === 'veth' ? '### Default veth underlay (64 KB offload segments pass: flatters tunnels)' : '### Wire-like underlay (segmentation offloads off: MTU-sized frames, like a real NIC)', '');
      out.push(
        table(['path', 'TCP 1 stream', 'of underlay', 'TCP 4 streams', 'of underlay', 'ping (µs)', 'x underlay', 'TCP RR/s', 'of underlay', 'notes'], rows),
      );
    }
    if (fn.notes.length > 0) out.push('', ...fn.notes.flatMap((n) => [n, '']).slice(0, -1));
    const cost = costLines(dp);
    if (cost.length > 0) out.push('', '### Where the cost is (default veth underlay, medians; TCP 1 stream and request/response rate)', '', ...cost);
    for (const s of dp.skipped) out.push('', `Not measured: ${s.path} (${s.underlay} underlay): ${s.reason}.`);
  }
  out.push('');
  return out.join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Two panels: TCP throughput (1 stream) and TCP request/response rate, each path as a fraction
 * of the underlay, one bar per underlay kind. Plain SVG, no scripts or external fonts.
 */
export function renderSvg(r: BenchReport): string {
  const dp = r.dataPlane;
  const paths = dp ? [...new Set(dp.paths.map((p) => p.path))] : [];
  const label = (id: string): string => dp?.paths.find((p) => p.path === id)?.label ?? id;
  const width = 980;
  const rowH = 22;
  const panelH = 40 + paths.length * rowH * 2 + 20;
  const height = 60 + panelH * 2 + 30;
  const left = 260;
  const barMax = width - left - 80;
  const colors = { veth: '#4C78A8', wire: '#F58518' } as const;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="22" font-size="16" font-weight="bold">${esc(`podnet benchmark ${r.startedAt} (${r.mode}): pod to pod across two hosts, fraction of the underlay`)}</text>`);
  parts.push(`<rect x="${left}" y="34" width="12" height="12" fill="${colors.veth}"/><text x="${left + 16}" y="44">default veth underlay</text>`);
  parts.push(`<rect x="${left + 170}" y="34" width="12" height="12" fill="${colors.wire}"/><text x="${left + 186}" y="44">wire-like underlay (offloads off)</text>`);
  const panels: { title: string; pick: (p: DataPathResult) => Summary }[] = [
    { title: 'TCP throughput, 1 stream (iperf3)', pick: (p) => p.tcp1 },
    { title: 'TCP request/response rate (latency)', pick: (p) => p.rrPerSec },
  ];
  panels.forEach((panel, pi) => {
    const top = 60 + pi * panelH;
    parts.push(`<text x="10" y="${top + 18}" font-size="14" font-weight="bold">${esc(panel.title)}</text>`);
    // Gridlines at 0, 0.25, ... 1.0 of the underlay.
    for (let g = 0; g <= 4; g++) {
      const x = left + (barMax * g) / 4;
      parts.push(`<line x1="${x}" y1="${top + 28}" x2="${x}" y2="${top + panelH - 20}" stroke="#ddd"/>`);
      parts.push(`<text x="${x}" y="${top + panelH - 6}" text-anchor="middle" fill="#666">${(g / 4).toFixed(2)}</text>`);
    }
    paths.forEach((id, i) => {
      const y = top + 32 + i * rowH * 2;
      parts.push(`<text x="${left - 8}" y="${y + rowH}" text-anchor="end">${esc(label(id))}</text>`);
      (['veth', 'wire'] as const).forEach((kind, k) => {
        const p = dp?.paths.find((q) => q.path === id && q.underlay === kind);
        const u = p && dp ? underlayOf(dp, p) : undefined;
        const by = y + k * (rowH - 4);
        if (!p || !u) {
          parts.push(`<text x="${left + 4}" y="${by + 13}" fill="#999">not measured</text>`);
          return;
        }
        const f = ratio(panel.pick(p), panel.pick(u)).median;
        const w = Math.max(1, Math.min(1.2, f) * barMax);
        parts.push(`<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colors[kind]}"/>`);
        parts.push(`<text x="${left + w + 4}" y="${by + 12}">${f.toFixed(2)}</text>`);
      });
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
