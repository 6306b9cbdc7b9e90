/**
 * libnetwork calls straight over the plugin socket, timed per call, the way Docker makes them
 * (POST, JSON body, keep-alive connections like Go's default transport).
 */
import { Agent } from 'node:http';
import { callOk, hexId } from '../../test/support/plugin-client';
import { summarize, percentile } from '../stats';
import type { ApiRun, CallLatency } from '../types';

export const POOL_ID = 'podnet-10.244.0.0/16';

export class PluginApi {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private seq = 0;

  constructor(readonly socketPath: string) {}

  /** One call; returns the answer body, throws naming the call on an error answer. */
  call(path: string, body: unknown): Promise<Record<string, unknown>> {
    return callOk(this.socketPath, path, body ?? {}, this.agent);
  }

  /** Times one call in ms. */
  async timed(path: string, body: unknown, into: Map<string, number[]>): Promise<Record<string, unknown>> {
    const start = process.hrtime.bigint();
    const answer = await this.call(path, body);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const list = into.get(path) ?? [];
    list.push(ms);
    into.set(path, list);
    return answer;
  }

  /** A fresh 64-hex endpoint ID, as Docker's are random (distinct in the first 12 digits). */
  nextEndpointId(tag: string): string {
    return hexId(`${tag}-${process.pid}-${++this.seq}-${Date.now()}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface Attached {
  readonly endpointId: string;
  readonly address: string;
}

/** RequestAddress + CreateEndpoint + Join: what Docker does to attach a container (timed into `t`). */
export async function attach(api: PluginApi, networkId: string, tag: string, t: Map<string, number[]>): Promise<Attached> {
  const endpointId = api.nextEndpointId(tag);
  const a = await api.timed('IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} }, t);
  const address = String(a['Address']);
  await api.timed('NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: endpointId, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} }, t);
  await api.timed('NetworkDriver.Join', { NetworkID: networkId, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`, Options: {} }, t);
  return { endpointId, address };
}

/** Leave + DeleteEndpoint + ReleaseAddress: what Docker does when the container goes. */
export async function detach(api: PluginApi, networkId: string, a: Attached, t: Map<string, number[]>): Promise<void> {
  await api.timed('NetworkDriver.Leave', { NetworkID: networkId, EndpointID: a.endpointId }, t);
  await api.timed('NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: a.endpointId }, t);
  await api.timed('IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: a.address.split('/')[0] }, t);
}

/** p50/p99 of each trial, summarized over trials, per call. */
export function perCallLatency(trials: readonly Map<string, number[]>[]): Record<string, CallLatency> {
  const names = new Set(trials.flatMap((t) => [...t.keys()]));
  const out: Record<string, CallLatency> = {};
  for (const name of names) {
    const p50: number[] = [];
    const p99: number[] = [];
    for (const t of trials) {
      const v = [...(t.get(name) ?? [])].sort((a, b) => a - b);
      if (v.length === 0) continue;
      p50.push(percentile(v, 0.5));
      p99.push(percentile(v, 0.99));
    }
    out[name] = { p50: summarize(p50), p99: summarize(p99) };
  }
  return out;
}

/**
 * Trials of `cycles` attach/detach cycles, `concurrency` at a time. `vethsGone` resolves when the
 * kernel has removed the veths of the cycles (Leave answers before that).
 */
export async function apiCycles(
  api: PluginApi,
  networkId: string,
  opts: { cycles: number; concurrency: number; trials: number; vethsGone: () => Promise<void>; pauseMs: number },
): Promise<ApiRun> {
  const trials: Map<string, number[]>[] = [];
  const rates: number[] = [];
  const gone: number[] = [];
  for (let trial = 0; trial < opts.trials; trial++) {
    const t = new Map<string, number[]>();
    let next = 0;
    const start = process.hrtime.bigint();
    const worker = async (): Promise<void> => {
      while (next < opts.cycles) {
        next++;
        const a = await attach(api, networkId, 'cycle', t);
        await detach(api, networkId, a, t);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    const sec = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(opts.cycles / sec);
    const settleStart = process.hrtime.bigint();
    await opts.vethsGone();
    gone.push(Number(process.hrtime.bigint() - settleStart) / 1e6);
    trials.push(t);
    // Released addresses come back after the plugin's grace period: wait it out between trials.
    await new Promise((r) => setTimeout(r, opts.pauseMs));
  }
  return {
    mode: opts.concurrency === 1 ? 'sequential' : 'concurrent',
    concurrency: opts.concurrency,
    cyclesPerTrial: opts.cycles,
    perCall: perCallLatency(trials),
    cyclesPerSec: summarize(rates),
    vethsGoneMs: summarize(gone),
  };
}

/** The round trip of a call that does no work: the transport's share of every call. */
export async function baselineLatency(api: PluginApi, calls: number, trials: number): Promise<CallLatency> {
  const all: Map<string, number[]>[] = [];
  for (let i = 0; i < trials; i++) {
    const t = new Map<string, number[]>();
    for (let c = 0; c < calls; c++) await api.timed('NetworkDriver.GetCapabilities', {}, t);
    all.push(t);
  }
  const r = perCallLatency(all)['NetworkDriver.GetCapabilities'];
  if (!r) throw new Error('no baseline samples');
  return r;
}
