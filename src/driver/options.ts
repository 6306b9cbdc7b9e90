import { InvalidOptionError, UnsupportedError } from '../errors';
import { isIpv4 } from '../model/cidr';
import type { PortBinding } from './protocol';
import type { Protocol } from '../model/types';

/** Docker's option keys as they arrive in CreateNetwork, CreateEndpoint and Join. */
export const OPT = {
  generic: 'com.docker.network.generic',
  internal: 'com.docker.network.internal',
  enableIpv6: 'com.docker.network.enable_ipv6',
  mtu: 'com.docker.network.driver.mtu',
  portmap: 'com.docker.network.portmap',
} as const;

/** The -o options podnet understands, with what each does (for the error that lists them). */
export const NETWORK_OPTIONS: Readonly<Record<string, string>> = {
  [OPT.mtu]: 'endpoint MTU (576-65535), instead of the computed one',
};

export interface NetworkOptions {
  readonly internal: boolean;
  readonly mtu: number | undefined;
}

export function parseNetworkOptions(options: Record<string, unknown>): NetworkOptions {
  if (options[OPT.enableIpv6] === true) {
    throw new UnsupportedError('IPv6 is not supported by podnet yet: create the network without --ipv6');
  }
  const generic = options[OPT.generic];
  const user: Record<string, unknown> = generic !== null && typeof generic === 'object' ? (generic as Record<string, unknown>) : {};
  const unknown = Object.keys(user).filter((k) => !Object.hasOwn(NETWORK_OPTIONS, k));
  if (unknown.length > 0) {
    const known = Object.entries(NETWORK_OPTIONS).map(([k, v]) => `${k} (${v})`).join('; ');
    throw new InvalidOptionError(`unknown option ${unknown.map((k) => `-o ${k}`).join(', ')}: podnet understands ${known}`);
  }
  let mtu: number | undefined;
  const raw = user[OPT.mtu];
  if (raw !== undefined) {
    const text = String(raw);
    mtu = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(mtu >= 576 && mtu <= 65535)) {
      throw new InvalidOptionError(`-o ${OPT.mtu}=${text} is invalid: give an integer from 576 to 65535`);
    }
  }
  return { internal: options[OPT.internal] === true, mtu };
}

export interface HostPortSpec {
  readonly protocol: Protocol;
  readonly hostIp: string; // '' = all addresses
  readonly hostPort: number;
  readonly containerPort: number;
}

const PROTOCOLS: Readonly<Record<number, Protocol>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** Turns Docker's port map into host-port specs, refusing what podnet cannot honour. */
export function parsePortMap(raw: unknown): HostPortSpec[] {
  if (raw === null || raw === undefined) return [];
  if (!Array.isArray(raw)) throw new InvalidOptionError(`${OPT.portmap} must be a list of port bindings`);
  const out = new Map<string, HostPortSpec>();
  const ipv6Only = new Set<string>();
  for (const item of raw as Partial<PortBinding>[]) {
    const protocol = PROTOCOLS[Number(item?.Proto)];
    const port = Number(item?.Port);
    const hostPort = Number(item?.HostPort ?? 0);
    const hostPortEnd = Number(item?.HostPortEnd ?? 0);
    const hostIpRaw = typeof item?.HostIP === 'string' ? item.HostIP : '';
    if (!protocol) throw new InvalidOptionError(`unsupported protocol number ${String(item?.Proto)} in a port binding: use tcp, udp or sctp`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidOptionError(`container port ${String(item?.Port)} is invalid: use 1-65535`);
    if (hostPort === 0) {
      throw new InvalidOptionError(
        `-p ${port}/${protocol} (or -P) asks Docker to choose a host port, which a remote driver cannot report back: ` +
          `publish an explicit host port, e.g. -p ${port}:${port}/${protocol}`,
      );
    }
    if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) throw new InvalidOptionError(`host port ${hostPort} is invalid: use 1-65535`);
    if (hostPortEnd !== 0 && hostPortEnd !== hostPort) {
      throw new InvalidOptionError(`host port range ${hostPort}-${hostPortEnd} is not supported: publish one explicit host port, e.g. -p ${hostPort}:${port}`);
    }
    // IPv6 bindings: Docker adds "::" twins of IPv4 ones on some versions (skipped below when the
    // twin exists); one on its own cannot be served by IPv4-only pods.
    if (hostIpRaw.includes(':')) {
      ipv6Only.add(`${protocol}/${hostPort}`);
      continue;
    }
    const hostIp = hostIpRaw === '0.0.0.0' ? '' : hostIpRaw;
    if (hostIp !== '' && !isIpv4(hostIp)) throw new InvalidOptionError(`host address "${hostIp}" in -p is not an IPv4 address`);
    const spec = { protocol, hostIp, hostPort, containerPort: port };
    out.set(`${protocol}/${hostIp}/${hostPort}`, spec);
  }
  const specs = [...out.values()];
  for (const k of ipv6Only) {
    if (!specs.some((s) => `${s.protocol}/${s.hostPort}` === k)) {
      throw new InvalidOptionError(`host port ${k.replace('/', ' ')} is published on an IPv6 address only: podnet's pods are IPv4-only; publish on an IPv4 address (e.g. -p ${k.split('/')[1]}:PORT)`);
    }
  }
  return specs;
}
