import type { Summary } from './types';

/** Linear-interpolated percentile of sorted values (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('percentile of no values');
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summarize: no values (a benchmark case produced no trial)');
  const sorted = [...values].sort((x, y) => x - y);
  return {
    n: values.length,
    median: percentile(sorted, 0.5),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    p25: percentile(sorted, 0.25),
    p75: percentile(sorted, 0.75),
    values: [...values],
  };
}

/**
 * Ratio of two measured quantities, with its spread: every pairing of a trial of `num` with a
 * trial of `den` (trials are independent, so no pairing is privileged).
 */
export function ratio(num: Summary, den: Summary): Summary {
  const r: number[] = [];
  for (const a of num.values) for (const b of den.values) if (b !== 0) r.push(a / b);
  return summarize(r.length ? r : [NaN]);
}

/** Milliseconds since `start` (from process.hrtime.bigint()). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
