import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import Docker from 'dockerode';
import { PodnetError } from '../errors';
import { loadSettings } from '../settings';
import { parseManifest, podFromRun } from '../pods/manifest';
import { PodManager, type PodStatus } from '../pods/pod-manager';

const USAGE = `usage: podnet pod <command> [--network NET] [-n NAMESPACE]

  apply -f FILE                 create or update the pod of a Kubernetes Pod manifest (YAML or JSON)
  run NAME --image IMG [-p [IP:]HOST:CONTAINER[/udp]]... [-e K=V]... [-- COMMAND ARGS...]
                                one-container pod
  ls                            pods on this host
  inspect NAME                  one pod, as JSON
  logs NAME -c CONTAINER        a container's log
  rm NAME                       remove every container of the pod (frees its IP)
  watch                         recreate pods whose infra container died (runs until stopped)

  --network NET                 Docker network of the pods (default: podnet)
  -n, --namespace NS            pod namespace (default: default)
`;

class UsageError extends PodnetError {
  constructor(message: string) {
    super('PODNET_ERR_INVALID_OPTION', `${message}\n\n${USAGE}`);
  }
}

interface Parsed {
  readonly positional: string[];
  readonly flags: Map<string, string[]>;
  readonly rest: string[];
}

const WITH_VALUE = new Set(['-f', '--network', '-n', '--namespace', '--image', '-p', '-e', '-c']);

function parseArgs(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-')) {
      const [key, inline] = a.includes('=') && a.startsWith('--') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
      if (!WITH_VALUE.has(key)) throw new UsageError(`unknown option ${key}`);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${key} needs a value`);
      const canonical = key === '--namespace' ? '-n' : key;
      flags.set(canonical, [...(flags.get(canonical) ?? []), value]);
    } else positional.push(a);
  }
  return { positional, flags, rest };
}

function one(p: Parsed, flag: string): string | undefined {
  return p.flags.get(flag)?.at(-1);
}

function table(pods: PodStatus[]): string {
  const rows = [['NAMESPACE', 'NAME', 'POD IP', 'NODE', 'CONTAINERS', 'HOST PORTS']];
  for (const p of pods) {
    rows.push([
      p.namespace,
      p.name,
      p.podIP || '-',
      p.node,
      p.containers.filter((c) => c.name !== 'POD').map((c) => `${c.name}:${c.state}${c.restartCount ? `(${c.restartCount})` : ''}`).join(',') || '-',
      p.hostPorts.map((h) => `${h.hostIP ? `${h.hostIP}:` : ''}${h.hostPort}->${h.containerPort}/${h.protocol.toLowerCase()}`).join(',') || '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

/** `podnet pod ...`: pods through the Docker API (DOCKER_HOST, else /var/run/docker.sock). */
export async function pod(argv: readonly string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help') {
    process.stdout.write(USAGE);
    return;
  }
  const p = parseArgs(args);
  const settings = loadSettings();
  const manager = new PodManager(new Docker(), {
    network: one(p, '--network') ?? 'podnet',
    infraImage: settings.infraImage,
    infraCommand: settings.infraCommand,
    node: settings.nodeName ?? hostname(),
  });
  const namespace = one(p, '-n') ?? 'default';
  const name = (): string => {
    const n = p.positional[0];
    if (n === undefined) throw new UsageError(`podnet pod ${command} needs a pod name`);
    return n;
  };
  switch (command) {
    case 'apply': {
      const file = one(p, '-f');
      if (file === undefined) throw new UsageError('podnet pod apply needs -f FILE');
      const { pod: spec, ignored } = parseManifest(readFileSync(file === '-' ? 0 : file, 'utf8'), file);
      if (ignored.length > 0) process.stderr.write(`podnet: ignored fields (not supported): ${ignored.join(', ')}\n`);
      const { changed } = await manager.apply(spec);
      process.stdout.write(changed.length === 0 ? `pod ${spec.namespace}/${spec.name} unchanged\n` : `pod ${spec.namespace}/${spec.name}: ${changed.join(', ')} (re)created\n`);
      return;
    }
    case 'run': {
      const image = one(p, '--image');
      if (image === undefined) throw new UsageError('podnet pod run needs --image IMAGE');
      const spec = podFromRun({ name: name(), image, ports: p.flags.get('-p') ?? [], env: p.flags.get('-e') ?? [], command: p.rest.length ? p.rest : undefined, namespace });
      const { changed } = await manager.apply(spec);
      process.stdout.write(changed.length === 0 ? `pod ${namespace}/${spec.name} unchanged\n` : `pod ${namespace}/${spec.name} running\n`);
      return;
    }
    case 'ls':
      process.stdout.write(table(await manager.list(p.flags.has('-n') ? namespace : undefined)));
      return;
    case 'inspect': {
      const status = await manager.inspect(name(), namespace);
      if (!status) throw new PodnetError('PODNET_ERR_NOT_FOUND', `no pod ${namespace}/${name()} on this host: podnet pod ls lists them`);
      process.stdout.write(JSON.stringify(status, null, 2) + '\n');
      return;
    }
    case 'logs': {
      const container = one(p, '-c');
      if (container === undefined) throw new UsageError('podnet pod logs needs -c CONTAINER');
      const { stdout, stderr } = await manager.logs(name(), namespace, container);
      process.stdout.write(stdout);
      process.stderr.write(stderr);
      return;
    }
    case 'rm': {
      const n = await manager.remove(name(), namespace);
      if (n === 0) throw new PodnetError('PODNET_ERR_NOT_FOUND', `no pod ${namespace}/${name()} on this host: podnet pod ls lists them`);
      process.stdout.write(`pod ${namespace}/${name()} removed\n`);
      return;
    }
    case 'watch': {
      const stop = new AbortController();
      process.on('SIGTERM', () => stop.abort());
      process.on('SIGINT', () => stop.abort());
      process.stdout.write('podnet: watching for pods whose infra container dies\n');
      await manager.watch(stop.signal, (line) => process.stdout.write(`${line}\n`));
      return;
    }
    default:
      throw new UsageError(`unknown pod command "${command}"`);
  }
}
