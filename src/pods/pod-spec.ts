/** A pod as podnet runs it: the subset of a Kubernetes Pod manifest that podnet honours. */

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PortProtocol = 'TCP' | 'UDP';

export interface ContainerPort {
  readonly containerPort: number;
  /** undefined: not published on the node. */
  readonly hostPort: number | undefined;
  /** '' : every node address. */
  readonly hostIP: string;
  readonly protocol: PortProtocol;
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  /** Kubernetes `command` (replaces the image's entrypoint), or undefined. */
  readonly command: readonly string[] | undefined;
  /** Kubernetes `args` (replaces the image's cmd), or undefined. */
  readonly args: readonly string[] | undefined;
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly ports: readonly ContainerPort[];
  readonly workingDir: string | undefined;
}

export interface PodSpec {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly hostNetwork: boolean;
  readonly restartPolicy: RestartPolicy;
  readonly shareProcessNamespace: boolean;
  readonly containers: readonly ContainerSpec[];
}

export interface ParsedManifest {
  readonly pod: PodSpec;
  /** Fields present in the manifest that podnet ignores (dotted paths), for one warning line. */
  readonly ignored: readonly string[];
}
