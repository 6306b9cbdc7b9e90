import { createHash } from 'node:crypto';
import createDebug from 'debug';
import type Docker from 'dockerode';
import { PodnetError, errorMessage } from '../errors';
import type { ContainerSpec, PodSpec } from './pod-spec';
import { appName, infraName, LABELS, type Role } from './names';

const debug = createDebug('podnet:pods');

export interface PodOptions {
  /** The Docker network pods attach to (the infra container only). */
  readonly network: string;
  readonly infraImage: string;
  /** Command line for the infra container, split on spaces (images without a suitable entrypoint). */
  readonly infraCommand: string | undefined;
  /** This node's name, for ls/inspect. */
  readonly node: string;
}

export interface HostPortInfo {
  readonly hostIP: string;
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly container: string;
}

export interface PodStatus {
  readonly name: string;
  readonly namespace: string;
  readonly podIP: string;
  readonly node: string;
  readonly containers: { name: string; id: string; image: string; state: string; restartCount: number }[];
  readonly hostPorts: HostPortInfo[];
}

export class PodError extends PodnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PODNET_ERR_INVALID_OPTION', message, options);
  }
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

function hostPortsOf(pod: PodSpec): HostPortInfo[] {
  return pod.containers.flatMap((c) =>
    c.ports
      .filter((p) => p.hostPort !== undefined)
      .map((p) => ({ hostIP: p.hostIP, hostPort: p.hostPort as number, containerPort: p.containerPort, protocol: p.protocol, container: c.name })),
  );
}

/** What the infra container depends on: change any of it and the whole pod is recreated. */
function infraHash(pod: PodSpec, opts: PodOptions): string {
  return digest({ v: 1, network: opts.network, image: opts.infraImage, cmd: opts.infraCommand ?? null, hostNetwork: pod.hostNetwork, ports: hostPortsOf(pod), labels: pod.labels });
}

function appHash(pod: PodSpec, c: ContainerSpec, infra: string): string {
  return digest({ v: 1, c, restart: pod.restartPolicy, pid: pod.shareProcessNamespace, infra });
}

const RESTART: Record<PodSpec['restartPolicy'], string> = { Always: 'always', OnFailure: 'on-failure', Never: 'no' };

/**
 * Pods on one Docker host, through the Docker API: an infra container holds the network (the only
 * one on the podnet network) and IPC namespaces; app containers join them.
 */
export class PodManager {
  constructor(private readonly docker: Docker, private readonly opts: PodOptions) {}

  private podFilter(name?: string, namespace?: string): { label: string[] } {
    const label = [name === undefined ? LABELS.podName : `${LABELS.podName}=${name}`];
    if (namespace !== undefined) label.push(`${LABELS.podNamespace}=${namespace}`);
    return { label };
  }

  private async containersOf(name: string, namespace: string): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters: this.podFilter(name, namespace) });
  }

  /** Makes the pod exist as specified. Same spec twice: nothing changes. A failure removes what this call made. */
  async apply(pod: PodSpec): Promise<{ changed: string[] }> {
    const existing = await this.containersOf(pod.name, pod.namespace);
    const infraInfo = existing.find((c) => c.Labels[LABELS.role] === 'infra');
    const wantInfra = infraHash(pod, this.opts);
    const made: string[] = [];
    const changed: string[] = [];
    try {
      let infraId: string;
      if (infraInfo && infraInfo.State === 'running' && infraInfo.Labels[LABELS.specHash] === wantInfra) {
        infraId = infraInfo.Id;
      } else {
        // A new or dead infra container means a new network namespace: the whole pod is recreated.
        await this.removeAll(existing);
        existing.length = 0;
        infraId = await this.createInfra(pod, wantInfra);
        made.push(infraId);
        changed.push(infraName(pod.name, pod.namespace));
      }
      const wantNames = new Set(pod.containers.map((c) => appName(c.name, pod.name, pod.namespace)));
      for (const info of existing.filter((c) => c.Labels[LABELS.role] === 'app')) {
        if (!info.Names.some((n) => wantNames.has(n.replace(/^\//, '')))) {
          await this.docker.getContainer(info.Id).remove({ force: true });
          changed.push(info.Names[0]?.replace(/^\//, '') ?? info.Id);
        }
      }
      for (const c of pod.containers) {
        const name = appName(c.name, pod.name, pod.namespace);
        const hash = appHash(pod, c, infraId);
        const current = existing.find((e) => e.Names.includes(`/${name}`));
        if (current && current.Labels[LABELS.specHash] === hash) continue;
        if (current) await this.docker.getContainer(current.Id).remove({ force: true });
        made.push(await this.createApp(pod, c, infraId, hash));
        changed.push(name);
      }
      return { changed };
    } catch (err) {
      debug('apply %s failed, removing what it made: %s', pod.name, errorMessage(err));
      for (const id of made.reverse()) await this.docker.getContainer(id).remove({ force: true }).catch(() => undefined);
      throw err;
    }
  }

  private async ensureImage(image: string, setting?: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch {
      /* not here: pull */
    }
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
    } catch (err) {
      throw new PodError(
        `image ${image} is not on this host and could not be pulled (${errorMessage(err)})` +
          (setting ? `: set ${setting} to an image this host has` : ': load it with docker load/import, or fix the image name'),
        { cause: err },
      );
    }
  }

  private labels(pod: PodSpec, role: Role, hash: string, container?: string): Record<string, string> {
    return {
      ...pod.labels,
      [LABELS.podName]: pod.name,
      [LABELS.podNamespace]: pod.namespace,
      [LABELS.role]: role,
      [LABELS.specHash]: hash,
      ...(container === undefined ? {} : { [LABELS.container]: container }),
    };
  }

  private async createInfra(pod: PodSpec, hash: string): Promise<string> {
    await this.ensureImage(this.opts.infraImage, 'PODNET_INFRA_IMAGE (and PODNET_INFRA_COMMAND if it needs a command)');
    const ports = hostPortsOf(pod);
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of ports) {
      const key = `${p.containerPort}/${p.protocol.toLowerCase()}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.hostIP, HostPort: String(p.hostPort) });
    }
    const command = this.opts.infraCommand?.split(' ').filter(Boolean);
    const container = await this.docker.createContainer({
      name: infraName(pod.name, pod.namespace),
      Image: this.opts.infraImage,
      ...(command && command.length > 0 ? { Entrypoint: command, Cmd: [] } : {}),
      ...(pod.hostNetwork ? {} : { Hostname: pod.name }),
      Labels: { ...this.labels(pod, 'infra', hash), [LABELS.hostPorts]: JSON.stringify(ports), [LABELS.spec]: JSON.stringify(pod) },
      ExposedPorts: exposed,
      HostConfig: {
        NetworkMode: pod.hostNetwork ? 'host' : this.opts.network,
        IpcMode: 'shareable',
        PortBindings: pod.hostNetwork ? {} : bindings,
        // No restart: a restarted infra container gets a new network namespace, which its apps
        // would not follow. A dead infra container means the pod is recreated (apply or watch).
        RestartPolicy: { Name: 'no' },
      },
    });
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw new PodError(`the infra container of pod ${pod.name} did not start: ${errorMessage(err)}`, { cause: err });
    }
    debug('pod %s/%s: infra %s', pod.namespace, pod.name, container.id.slice(0, 12));
    return container.id;
  }

  private async createApp(pod: PodSpec, c: ContainerSpec, infraId: string, hash: string): Promise<string> {
    await this.ensureImage(c.image);
    const container = await this.docker.createContainer({
      name: appName(c.name, pod.name, pod.namespace),
      Image: c.image,
      ...(c.command ? { Entrypoint: [...c.command] } : {}),
      ...(c.args ? { Cmd: [...c.args] } : c.command ? { Cmd: [] } : {}),
      Env: c.env.map((e) => `${e.name}=${e.value}`),
      ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
      Labels: this.labels(pod, 'app', hash, c.name),
      HostConfig: {
        NetworkMode: `container:${infraId}`,
        IpcMode: `container:${infraId}`,
        ...(pod.shareProcessNamespace ? { PidMode: `container:${infraId}` } : {}),
        RestartPolicy: { Name: RESTART[pod.restartPolicy] },
      },
    });
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw new PodError(`container ${c.name} of pod ${pod.name} did not start: ${errorMessage(err)}`, { cause: err });
    }
    return container.id;
  }

  private async removeAll(containers: readonly Docker.ContainerInfo[]): Promise<void> {
    // Apps first: they live in the infra container's namespaces.
    const ordered = [...containers].sort((a, b) => (a.Labels[LABELS.role] === 'infra' ? 1 : 0) - (b.Labels[LABELS.role] === 'infra' ? 1 : 0));
    for (const c of ordered) await this.docker.getContainer(c.Id).remove({ force: true }).catch((err: unknown) => {
      if (!/No such container|is already in progress/.test(errorMessage(err))) throw err;
    });
  }

  /** Stops and removes every container of the pod; its address goes back to the pool. */
  async remove(name: string, namespace: string): Promise<number> {
    const containers = await this.containersOf(name, namespace);
    await this.removeAll(containers);
    return containers.length;
  }

  async list(namespace?: string): Promise<PodStatus[]> {
    const all = await this.docker.listContainers({ all: true, filters: this.podFilter(undefined, namespace) });
    const keys = new Map<string, { name: string; namespace: string }>();
    for (const c of all) {
      const name = c.Labels[LABELS.podName];
      const ns = c.Labels[LABELS.podNamespace];
      if (name !== undefined && ns !== undefined) keys.set(`${ns}/${name}`, { name, namespace: ns });
    }
    const out: PodStatus[] = [];
    for (const k of [...keys.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
      const status = await this.inspect(k.name, k.namespace);
      if (status) out.push(status);
    }
    return out;
  }

  async inspect(name: string, namespace: string): Promise<PodStatus | undefined> {
    const containers = await this.containersOf(name, namespace);
    if (containers.length === 0) return undefined;
    const details = await Promise.all(containers.map((c) => this.docker.getContainer(c.Id).inspect()));
    const infra = details.find((d) => d.Config.Labels[LABELS.role] === 'infra');
    const nets = infra?.NetworkSettings.Networks ?? {};
    const podIP = infra?.HostConfig.NetworkMode === 'host' ? 'host' : (nets[this.opts.network]?.IPAddress ?? Object.values(nets)[0]?.IPAddress ?? '');
    const order = (d: Docker.ContainerInspectInfo): string => (d.Config.Labels[LABELS.role] === 'infra' ? '' : d.Config.Labels[LABELS.container] ?? d.Name);
    return {
      name,
      namespace,
      podIP: infra?.State.Running ? podIP : '',
      node: this.opts.node,
      containers: details
        .sort((a, b) => order(a).localeCompare(order(b)))
        .map((d) => ({
          name: d.Config.Labels[LABELS.role] === 'infra' ? 'POD' : d.Config.Labels[LABELS.container] ?? d.Name.replace(/^\//, ''),
          id: d.Id,
          image: d.Config.Image,
          state: d.State.Status,
          restartCount: d.RestartCount,
        })),
      hostPorts: infra ? (JSON.parse(infra.Config.Labels[LABELS.hostPorts] ?? '[]') as HostPortInfo[]) : [],
    };
  }

  /**
   * Recreates pods whose infra container died (Docker's event stream), until the signal aborts.
   * The pod spec is read back from the dead infra container's label.
   */
  async watch(signal: AbortSignal, onEvent: (line: string) => void): Promise<void> {
    const stream = (await this.docker.getEvents({
      filters: { type: ['container'], event: ['die'], label: [`${LABELS.role}=infra`] },
    })) as NodeJS.ReadableStream & { destroy(): void };
    signal.addEventListener('abort', () => stream.destroy());
    let buffered = '';
    const queue: Promise<void>[] = [];
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim()) queue.push(this.onInfraDied(line, onEvent));
      }
    });
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', resolve);
    });
    await Promise.all(queue);
  }

  private async onInfraDied(line: string, onEvent: (line: string) => void): Promise<void> {
    let id: string;
    try {
      id = (JSON.parse(line) as { id: string }).id;
    } catch {
      return;
    }
    try {
      // `pod rm` kills the infra container too, then removes it at once: wait, and recreate only
      // a pod whose dead infra container is still there (it died on its own).
      await new Promise((r) => setTimeout(r, 1000));
      const info = await this.docker.getContainer(id).inspect();
      if (info.State.Running) return;
      const spec = info.Config.Labels[LABELS.spec];
      if (!spec) return;
      const pod = JSON.parse(spec) as PodSpec;
      // The infra may have been removed on purpose (pod rm): only a pod still present is recreated.
      await this.apply(pod);
      onEvent(`pod ${pod.namespace}/${pod.name}: infra container died; pod recreated, IP ${(await this.inspect(pod.name, pod.namespace))?.podIP ?? '?'}`);
    } catch (err) {
      if (/No such container/.test(errorMessage(err))) return;
      onEvent(`could not recreate the pod of infra container ${id.slice(0, 12)}: ${errorMessage(err)}`);
    }
  }

  /** A container's log (stdout and stderr, demultiplexed). */
  async logs(name: string, namespace: string, container: string): Promise<{ stdout: Buffer; stderr: Buffer }> {
    const c = this.docker.getContainer(appName(container, name, namespace));
    let raw: Buffer;
    try {
      raw = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    } catch (err) {
      throw new PodError(`pod ${name} has no container ${container}: podnet pod inspect ${name} lists them`, { cause: err });
    }
    return demux(raw);
  }
}

/** Docker's multiplexed log format: 8-byte frame headers (stream, 0, 0, 0, size as uint32 BE). */
export function demux(raw: Buffer): { stdout: Buffer; stderr: Buffer } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= raw.length) {
    const stream = raw[i];
    const size = raw.readUInt32BE(i + 4);
    const chunk = raw.subarray(i + 8, i + 8 + size);
    (stream === 2 ? err : out).push(chunk);
    i += 8 + size;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}
