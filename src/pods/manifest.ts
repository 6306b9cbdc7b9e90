/**
 * Pod manifests: the subset of a Kubernetes v1 Pod that podnet honours (see pod-spec.ts), read
 * from YAML or JSON text, and the quick form of `podnet pod run NAME --image IMG -p ... -e ...`.
 *
 * Everything is validated here, before anything runs: a refusal names the bad field as a dotted
 * path (`spec.containers[1].ports[0].hostPort`) and says what to do. Fields podnet does not
 * honour are not errors; they are collected into `ignored` so that the caller can warn once.
 */
import { parse as parseYaml } from 'yaml';
import { PodnetError, errorMessage } from '../errors';
import { isIpv4 } from '../model/cidr';
import type { ContainerPort, ContainerSpec, ParsedManifest, PodSpec, PortProtocol, RestartPolicy } from './pod-spec';

/** A manifest (or `pod run` option) that podnet refuses. `path` is the dotted path of the bad field ('' for the whole text). */
export class ManifestError extends PodnetError {
  readonly path: string;
  constructor(message: string, path = '') {
    super('PODNET_ERR_INVALID_OPTION', message);
    this.path = path;
  }
}

type Obj = Record<string, unknown>;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RESTART_POLICIES: readonly RestartPolicy[] = ['Always', 'OnFailure', 'Never'];

const TOP_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'spec']);
const METADATA_KEYS = new Set(['name', 'namespace', 'labels']);
const SPEC_KEYS = new Set(['containers', 'hostNetwork', 'restartPolicy', 'shareProcessNamespace', 'initContainers']);
const CONTAINER_KEYS = new Set(['name', 'image', 'command', 'args', 'env', 'ports', 'workingDir']);
const ENV_KEYS = new Set(['name', 'value']);
const PORT_KEYS = new Set(['containerPort', 'hostPort', 'hostIP', 'protocol']);

/** True for a DNS-1123 label: 1-63 lowercase alphanumerics or '-', starting and ending alphanumeric. */
export function isDns1123Label(text: string): boolean {
  return text.length >= 1 && text.length <= 63 && DNS1123_LABEL.test(text);
}

/** A plain map (not a list, null, or a tagged YAML value such as !!binary). */
function isObj(v: unknown): v is Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** An own field only: `constructor` and friends from the prototype are not manifest fields. */
function get(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** What a value is, for a message: `the string "80"`, `a list`, `70000`. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `the string ${quote(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a map';
  return `a ${typeof v === 'object' ? 'tagged value' : typeof v}`;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

/** A DNS-1123 label close to `name`, for the message that refuses it. */
function suggestLabel(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return s === '' ? 'my-pod' : s;
}

/** One validation pass: where the text came from, and the ignored paths seen so far. */
class Checker {
  readonly ignored: string[] = [];
  constructor(private readonly source: string) {}

  fail(path: string, what: string): never {
    throw new ManifestError(path === '' ? `${this.source}: ${what}` : `${this.source}: ${path}: ${what}`, path);
  }

  /** Records every key of `o` that is not in `known` as ignored. */
  ignoreUnknown(o: Obj, known: ReadonlySet<string>, prefix: string): void {
    for (const k of Object.keys(o)) if (!known.has(k)) this.ignored.push(prefix === '' ? k : `${prefix}.${k}`);
  }

  label(v: unknown, path: string, what: string): string {
    if (typeof v !== 'string') this.fail(path, `must be a string (got ${describe(v)}); give the ${what} a name such as "my-pod"`);
    if (!isDns1123Label(v)) {
      this.fail(
        path,
        `${quote(v)} is not a DNS-1123 label; use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. ${quote(suggestLabel(v))})`,
      );
    }
    return v;
  }

  bool(v: unknown, path: string): boolean {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(path, `must be true or false (got ${describe(v)}); write it without quotes`);
    return v;
  }

  port(v: unknown, path: string): number {
    if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) {
      this.fail(path, `must be a number, not ${describe(v)}; write ${v.trim()} without quotes`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(path, `must be an integer from 1 to 65535 (got ${describe(v)})`);
    if (v < 1 || v > 65535) this.fail(path, `must be from 1 to 65535 (got ${v}); choose a port in that range`);
    return v;
  }

  /** A list of strings (command, args), or undefined when absent. */
  strings(v: unknown, path: string): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) this.fail(path, `must be a list of strings (got ${describe(v)}); write it as ["prog", "arg"]`);
    return v.map((item: unknown, i) => {
      if (typeof item !== 'string') this.fail(`${path}[${i}]`, `must be a string (got ${describe(item)}); quote it`);
      return item;
    });
  }

  list(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, `must be a list (got ${describe(v)}); write each entry on a line starting with '-'`);
    return v;
  }

  map(v: unknown, path: string): Obj {
    if (!isObj(v)) this.fail(path, `must be a map (got ${describe(v)})`);
    return v;
  }
}

/** A port and the paths that name it in messages. */
interface PlacedPort {
  readonly port: ContainerPort;
  /** Names the port entry as a whole ('spec.containers[0].ports[1]' or '-p "8080:80"'). */
  readonly where: string;
  readonly containerPortPath: string;
  readonly hostPortPath: string;
}

function hostAddr(hostIP: string): string {
  return hostIP === '' ? 'all addresses' : hostIP;
}

/**
 * Pod-wide port checks. The containers of a pod share one network namespace, so a containerPort +
 * protocol may be claimed once in the whole pod; a hostPort + protocol may be published once per
 * host address, and an all-addresses binding (hostIP '') collides with every specific address.
 */
function checkPodPorts(c: Checker, ports: readonly PlacedPort[], hostNetwork: boolean): void {
  const byContainerPort = new Map<string, PlacedPort>();
  for (const p of ports) {
    const key = `${p.port.containerPort}/${p.port.protocol}`;
    const prior = byContainerPort.get(key);
    if (prior !== undefined) {
      c.fail(
        p.containerPortPath,
        `${key} is already claimed by ${prior.where}; the containers of a pod share one network namespace, so remove one of them or use another port`,
      );
    }
    byContainerPort.set(key, p);
    if (hostNetwork && p.port.hostPort !== undefined && p.port.hostPort !== p.port.containerPort) {
      c.fail(
        p.hostPortPath,
        `must equal containerPort (${p.port.containerPort}) when spec.hostNetwork is true (got ${p.port.hostPort}); remove hostPort or set it to ${p.port.containerPort}`,
      );
    }
  }
  const published: PlacedPort[] = [];
  for (const p of ports) {
    const { hostPort, hostIP, protocol } = p.port;
    if (hostPort === undefined) continue;
    const prior = published.find(
      (q) => q.port.hostPort === hostPort && q.port.protocol === protocol && (q.port.hostIP === hostIP || q.port.hostIP === '' || hostIP === ''),
    );
    if (prior !== undefined) {
      c.fail(
        p.hostPortPath,
        `${hostPort}/${protocol} on ${hostAddr(hostIP)} is already published by ${prior.where} (on ${hostAddr(prior.port.hostIP)}); use another hostPort or hostIP`,
      );
    }
    published.push(p);
  }
}

function hostIpOf(c: Checker, v: string, path: string): string {
  if (!isIpv4(v)) c.fail(path, `${quote(v)} is not an IPv4 address; use a dotted-quad address of this node such as "127.0.0.1", or leave it out for all addresses`);
  return v === '0.0.0.0' ? '' : v;
}

function parsePort(c: Checker, raw: unknown, path: string): ContainerPort {
  const o = c.map(raw, path);
  c.ignoreUnknown(o, PORT_KEYS, path);
  const cp = get(o, 'containerPort');
  if (cp === undefined || cp === null) c.fail(`${path}.containerPort`, 'is required; give the port the container listens on, e.g. containerPort: 80');
  const containerPort = c.port(cp, `${path}.containerPort`);
  const hp = get(o, 'hostPort');
  const hostPort = hp === undefined || hp === null ? undefined : c.port(hp, `${path}.hostPort`);
  let hostIP = '';
  const hi = get(o, 'hostIP');
  if (hi !== undefined && hi !== null && hi !== '') {
    if (typeof hi !== 'string') c.fail(`${path}.hostIP`, `must be a string (got ${describe(hi)}); write it as "127.0.0.1"`);
    hostIP = hostIpOf(c, hi, `${path}.hostIP`);
    // Kubernetes ignores a hostIP that publishes nothing; so does podnet, with a warning.
    if (hostPort === undefined) c.ignored.push(`${path}.hostIP`);
  }
  if (hostPort === undefined) hostIP = '';
  const pr = get(o, 'protocol');
  let protocol: PortProtocol = 'TCP';
  if (pr !== undefined && pr !== null) {
    if (pr === 'SCTP') c.fail(`${path}.protocol`, 'SCTP is not supported; use TCP or UDP');
    if (pr !== 'TCP' && pr !== 'UDP') c.fail(`${path}.protocol`, `must be TCP or UDP (got ${describe(pr)})`);
    protocol = pr;
  }
  return { containerPort, hostPort, hostIP, protocol };
}

function envName(c: Checker, v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') c.fail(path, `must be a non-empty string (got ${describe(v)}); name the variable, e.g. name: LOG_LEVEL`);
  if (v.includes('=') || v.includes('\0')) c.fail(path, `${quote(v)} must not contain '=' or NUL; put the value in value:`);
  return v;
}

function parseContainer(c: Checker, raw: unknown, path: string, placed: PlacedPort[]): ContainerSpec {
  const o = c.map(raw, path);
  c.ignoreUnknown(o, CONTAINER_KEYS, path);
  const n = get(o, 'name');
  if (n === undefined || n === null || n === '') c.fail(`${path}.name`, 'is required; give the container a name such as "web"');
  const name = c.label(n, `${path}.name`, 'container');
  const image = get(o, 'image');
  if (image === undefined || image === null || image === '') c.fail(`${path}.image`, 'is required; give the image to run, e.g. image: nginx:1.27');
  if (typeof image !== 'string') c.fail(`${path}.image`, `must be a string (got ${describe(image)}); quote it`);
  if (image.trim() !== image || /\s/.test(image)) c.fail(`${path}.image`, `${quote(image)} is not an image reference; remove the whitespace`);
  const command = c.strings(get(o, 'command'), `${path}.command`);
  const args = c.strings(get(o, 'args'), `${path}.args`);
  const env = c.list(get(o, 'env'), `${path}.env`).map((e, i) => {
    const ep = `${path}.env[${i}]`;
    const eo = c.map(e, ep);
    for (const k of Object.keys(eo)) if (!ENV_KEYS.has(k)) c.ignored.push(`${ep}.${k}`);
    const envVar = envName(c, get(eo, 'name'), `${ep}.name`);
    const v = get(eo, 'value');
    if (v !== undefined && v !== null && typeof v !== 'string') c.fail(`${ep}.value`, `must be a string (got ${describe(v)}); quote it, e.g. value: "${String(v)}"`);
    return { name: envVar, value: typeof v === 'string' ? v : '' };
  });
  const ports = c.list(get(o, 'ports'), `${path}.ports`).map((p, i) => {
    const pp = `${path}.ports[${i}]`;
    const port = parsePort(c, p, pp);
    placed.push({ port, where: pp, containerPortPath: `${pp}.containerPort`, hostPortPath: `${pp}.hostPort` });
    return port;
  });
  const wd = get(o, 'workingDir');
  let workingDir: string | undefined;
  if (wd !== undefined && wd !== null && wd !== '') {
    if (typeof wd !== 'string') c.fail(`${path}.workingDir`, `must be a string (got ${describe(wd)})`);
    if (!wd.startsWith('/')) c.fail(`${path}.workingDir`, `${quote(wd)} must be an absolute path; start it with '/'`);
    workingDir = wd;
  }
  return { name, image, command, args, env, ports, workingDir };
}

/**
 * Parses the YAML or JSON text of a Kubernetes v1 Pod into the PodSpec podnet runs, with the
 * paths of the fields it ignores. Throws ManifestError, naming the field, for anything refused.
 * `source` (a file name, say) prefixes every message.
 */
export function parseManifest(text: string, source = 'manifest'): ParsedManifest {
  const c: Checker = new Checker(source);
  let raw: unknown;
  try {
    raw = parseYaml(text, { logLevel: 'error' });
  } catch (err) {
    const first = (errorMessage(err).split('\n')[0] ?? '').replace(/:\s*$/, '');
    c.fail('', `is not valid YAML or JSON: ${first}; fix the syntax (one Pod per file)`);
  }
  if (raw === null || raw === undefined) c.fail('', 'is empty; give a Pod with metadata.name and spec.containers');
  if (!isObj(raw)) c.fail('', `must be a Pod (a map with apiVersion, kind, metadata and spec), got ${describe(raw)}`);
  c.ignoreUnknown(raw, TOP_KEYS, '');

  const apiVersion = get(raw, 'apiVersion');
  if (apiVersion !== undefined && apiVersion !== null && apiVersion !== 'v1') {
    c.fail('apiVersion', `must be v1 (got ${describe(apiVersion)}); podnet runs core v1 Pods only`);
  }
  const kind = get(raw, 'kind');
  if (kind !== undefined && kind !== null && kind !== 'Pod') {
    c.fail('kind', `must be Pod (got ${describe(kind)}); podnet runs Pods only: write the pod template as a Pod`);
  }

  const mraw = get(raw, 'metadata');
  if (mraw === undefined || mraw === null) c.fail('metadata', 'is required; give at least metadata.name');
  const metadata = c.map(mraw, 'metadata');
  c.ignoreUnknown(metadata, METADATA_KEYS, 'metadata');
  const n = get(metadata, 'name');
  if (n === undefined || n === null || n === '') c.fail('metadata.name', 'is required; give the pod a name such as "web"');
  const name = c.label(n, 'metadata.name', 'pod');
  const ns = get(metadata, 'namespace');
  const namespace = ns === undefined || ns === null || ns === '' ? 'default' : c.label(ns, 'metadata.namespace', 'namespace');
  const labels: Record<string, string> = {};
  const lraw = get(metadata, 'labels');
  if (lraw !== undefined && lraw !== null) {
    const lo = c.map(lraw, 'metadata.labels');
    for (const [k, v] of Object.entries(lo)) {
      if (k === '') c.fail('metadata.labels', 'has an empty key; give every label a name');
      if (typeof v !== 'string') c.fail(`metadata.labels.${k}`, `must be a string (got ${describe(v)}); quote it, e.g. ${k}: "${String(v)}"`);
      labels[k] = v;
    }
  }

  const sraw = get(raw, 'spec');
  if (sraw === undefined || sraw === null) c.fail('spec', 'is required; give spec.containers');
  const spec = c.map(sraw, 'spec');
  c.ignoreUnknown(spec, SPEC_KEYS, 'spec');
  const init = get(spec, 'initContainers');
  if (init !== undefined && init !== null) {
    if (Array.isArray(init) && init.length === 0) c.ignored.push('spec.initContainers');
    else c.fail('spec.initContainers', 'not supported: remove it (run the setup step in the container command instead)');
  }
  const hostNetwork = c.bool(get(spec, 'hostNetwork'), 'spec.hostNetwork');
  const shareProcessNamespace = c.bool(get(spec, 'shareProcessNamespace'), 'spec.shareProcessNamespace');
  const rp = get(spec, 'restartPolicy');
  let restartPolicy: RestartPolicy = 'Always';
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'string' || !(RESTART_POLICIES as readonly string[]).includes(rp)) {
      c.fail('spec.restartPolicy', `must be one of ${RESTART_POLICIES.join(', ')} (got ${describe(rp)})`);
    }
    restartPolicy = rp as RestartPolicy;
  }

  const craw = c.list(get(spec, 'containers'), 'spec.containers');
  if (craw.length === 0) c.fail('spec.containers', 'is required and must list at least one container (name and image)');
  const placed: PlacedPort[] = [];
  const seen = new Map<string, string>();
  const containers = craw.map((raw1, i) => {
    const path = `spec.containers[${i}]`;
    const container = parseContainer(c, raw1, path, placed);
    const prior = seen.get(container.name);
    if (prior !== undefined) c.fail(`${path}.name`, `${quote(container.name)} is already the name of ${prior}; give each container a unique name`);
    seen.set(container.name, path);
    return container;
  });
  checkPodPorts(c, placed, hostNetwork);

  const pod: PodSpec = { name, namespace, labels, hostNetwork, restartPolicy, shareProcessNamespace, containers };
  return { pod, ignored: c.ignored };
}

/** Options of `podnet pod run NAME --image IMG [-p ...] [-e K=V] [-- cmd args]`. */
export interface PodRunOptions {
  readonly name: string;
  readonly image: string;
  /** `[hostIP:]hostPort:containerPort[/tcp|/udp]`, as for `docker run -p`. */
  readonly ports: readonly string[];
  /** `NAME=VALUE`. */
  readonly env?: readonly string[];
  /** Everything after `--`: replaces the image's cmd (Kubernetes `args`), as `docker run IMG cmd...` and `kubectl run -- cmd...` do. */
  readonly command?: readonly string[];
  readonly namespace?: string;
}

function parsePublish(c: Checker, spec: string, where: string): ContainerPort {
  const usage = 'write it as [hostIP:]hostPort:containerPort[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:9000:9000/udp';
  let body = spec;
  let protocol: PortProtocol = 'TCP';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    const proto = spec.slice(slash + 1).toLowerCase();
    body = spec.slice(0, slash);
    if (proto === 'sctp') c.fail(where, 'SCTP is not supported; use /tcp or /udp');
    if (proto !== 'tcp' && proto !== 'udp') c.fail(where, `unknown protocol ${quote(spec.slice(slash + 1))}; ${usage}`);
    protocol = proto === 'udp' ? 'UDP' : 'TCP';
  }
  const parts = body.split(':');
  if (parts.length !== 2 && parts.length !== 3) c.fail(where, `is not a port mapping; ${usage}`);
  const [a, b, d] = parts;
  const ipText = parts.length === 3 ? (a ?? '') : '';
  const hostText = (parts.length === 3 ? b : a) ?? '';
  const containerText = (parts.length === 3 ? d : b) ?? '';
  const num = (t: string, what: string): number => {
    if (!/^\d{1,5}$/.test(t)) c.fail(where, `${what} ${quote(t)} is not a port number; ${usage}`);
    const v = Number(t);
    if (v < 1 || v > 65535) c.fail(where, `${what} must be from 1 to 65535 (got ${v}); choose a port in that range`);
    return v;
  };
  const hostPort = num(hostText, 'hostPort');
  const containerPort = num(containerText, 'containerPort');
  const hostIP = ipText === '' ? '' : hostIpOf(c, ipText, where);
  return { containerPort, hostPort, hostIP, protocol };
}

/**
 * The PodSpec of `podnet pod run`: one container named after the pod, ports from `-p`, env from
 * `-e`, args from `-- cmd args`. Validated as a manifest is; throws ManifestError.
 */
export function podFromRun(opts: PodRunOptions): PodSpec {
  const c: Checker = new Checker('podnet pod run');
  if (opts.name === '') c.fail('NAME', 'is required; give the pod a name such as "web"');
  const name = c.label(opts.name, 'NAME', 'pod');
  const namespace = opts.namespace === undefined || opts.namespace === '' ? 'default' : c.label(opts.namespace, '--namespace', 'namespace');
  if (typeof opts.image !== 'string' || opts.image.trim() === '') c.fail('--image', 'is required; give the image to run, e.g. --image nginx:1.27');
  if (/\s/.test(opts.image)) c.fail('--image', `${quote(opts.image)} is not an image reference; remove the whitespace`);
  const placed: PlacedPort[] = opts.ports.map((p) => {
    const where = `-p ${quote(p)}`;
    return { port: parsePublish(c, p, where), where, containerPortPath: where, hostPortPath: where };
  });
  checkPodPorts(c, placed, false);
  const env = (opts.env ?? []).map((e) => {
    const eq = e.indexOf('=');
    if (eq <= 0) c.fail(`-e ${quote(e)}`, 'must be NAME=VALUE, e.g. -e LOG_LEVEL=debug');
    return { name: envName(c, e.slice(0, eq), `-e ${quote(e)}`), value: e.slice(eq + 1) };
  });
  const args = opts.command !== undefined && opts.command.length > 0 ? [...opts.command] : undefined;
  const container: ContainerSpec = {
    name,
    image: opts.image,
    command: undefined,
    args,
    env,
    ports: placed.map((p) => p.port),
    workingDir: undefined,
  };
  return { name, namespace, labels: {}, hostNetwork: false, restartPolicy: 'Always', shareProcessNamespace: false, containers: [container] };
}
