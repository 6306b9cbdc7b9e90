/**
 * Fault injection for the recovery tests: with PODNETTEST_CRASH_AT=<point> in the environment,
 * the process kills itself with SIGKILL when it reaches that named point, as a power cut or an
 * OOM kill would (no handler runs, nothing is flushed beyond what is already committed). Unset,
 * a crash point costs one comparison.
 */
const target = process.env['PODNETTEST_CRASH_AT'] ?? '';

/** The named points, in the order a request passes them (the recovery tests walk this list). */
export const CRASH_POINTS = [
  'request-address:stored',
  'create-endpoint:stored',
  'join:recorded',
  'join:made',
  'join:stored',
  'leave:revoked',
  'leave:stored',
  'delete-endpoint:revoked',
  'delete-endpoint:stored',
  'release-address:stored',
  'create-network:host-ready',
  'create-network:stored',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(name: CrashPoint): void {
  if (target !== '' && target === name) process.kill(process.pid, 'SIGKILL');
}
