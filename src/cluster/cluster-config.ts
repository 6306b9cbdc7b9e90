import { SettingsError } from '../errors';
import { formatCidr, formatIpv4, gatewayOf, sameCidr } from '../model/cidr';
import { checkSingleNode, type Settings } from '../settings';
import type { ClusterNode, ClusterSpec } from './cluster-file';

/** The VXLAN VNI / GRE key used when the cluster file names none. */
export const DEFAULT_VNI = 1;

/** What this node runs with: settings merged with the cluster file, and who the peers are. */
export interface ClusterConfig {
  readonly settings: Settings;
  readonly vni: number;
  /** This node's entry; undefined in single-node mode (no cluster file). */
  readonly self: ClusterNode | undefined;
  readonly peers: readonly ClusterNode[];
}

export interface LocalIdentity {
  /** IPv4 addresses on this host's interfaces. */
  readonly addresses: ReadonlySet<number>;
  readonly hostname: string;
}

function conflict(variable: string, local: string, file: string, path: string): never {
  throw new SettingsError(
    `${variable}=${local} contradicts the cluster file ${path} (${file}): tunnel parameters and addresses are cluster-wide; unset ${variable} or change the file`,
  );
}

/**
 * Merges settings with a cluster file. The file's cluster-wide fields win over defaults; a local
 * PODNET_* value that says otherwise is an error (a node on GRE and another on VXLAN fail silently).
 */
export function resolveCluster(base: Settings, spec: ClusterSpec | undefined, local: LocalIdentity): ClusterConfig {
  if (!spec) {
    checkSingleNode(base);
    return { settings: base, vni: DEFAULT_VNI, self: undefined, peers: [] };
  }
  const path = base.clusterFile;
  const has = (v: string): boolean => base.explicit.has(v);
  if (has('PODNET_CLUSTER_CIDR') && !sameCidr(base.clusterCidr, spec.clusterCidr)) {
    conflict('PODNET_CLUSTER_CIDR', formatCidr(base.clusterCidr), `clusterCIDR ${formatCidr(spec.clusterCidr)}`, path);
  }
  if (spec.tunnel && has('PODNET_TUNNEL') && spec.tunnel !== base.tunnel) conflict('PODNET_TUNNEL', base.tunnel, `tunnel ${spec.tunnel}`, path);
  if (spec.topology && has('PODNET_TOPOLOGY') && spec.topology !== base.topology) conflict('PODNET_TOPOLOGY', base.topology, `topology ${spec.topology}`, path);
  if (spec.vxlanPort !== undefined && has('PODNET_VXLAN_PORT') && spec.vxlanPort !== base.vxlanPort) {
    conflict('PODNET_VXLAN_PORT', String(base.vxlanPort), `vxlanPort ${spec.vxlanPort}`, path);
  }
  const self = findSelf(base, spec, local);
  if (has('PODNET_NODE_SUBNET') && !sameCidr(base.nodeSubnet, self.subnet)) {
    conflict('PODNET_NODE_SUBNET', formatCidr(base.nodeSubnet), `${self.name}'s subnet ${formatCidr(self.subnet)}`, path);
  }
  return {
    settings: {
      ...base,
      clusterCidr: spec.clusterCidr,
      nodeSubnet: self.subnet,
      gateway: gatewayOf(self.subnet),
      nodeName: self.name,
      tunnel: spec.tunnel ?? base.tunnel,
      topology: spec.topology ?? base.topology,
      vxlanPort: spec.vxlanPort ?? base.vxlanPort,
    },
    vni: spec.vni ?? DEFAULT_VNI,
    self,
    peers: spec.nodes.filter((n) => n !== self),
  };
}

function findSelf(base: Settings, spec: ClusterSpec, local: LocalIdentity): ClusterNode {
  if (base.nodeName !== undefined) {
    const named = spec.nodes.find((n) => n.name === base.nodeName);
    if (!named) {
      throw new SettingsError(`PODNET_NODE_NAME=${base.nodeName} is not in the cluster file ${base.clusterFile}: add it, or fix the name`);
    }
    return named;
  }
  const byIp = spec.nodes.filter((n) => local.addresses.has(n.ip));
  if (byIp.length === 1 && byIp[0]) return byIp[0];
  if (byIp.length > 1) {
    throw new SettingsError(`several entries of the cluster file ${base.clusterFile} (${byIp.map((n) => n.name).join(', ')}) have an ip of this host: set PODNET_NODE_NAME`);
  }
  const byName = spec.nodes.find((n) => n.name === local.hostname);
  if (byName) return byName;
  throw new SettingsError(
    `this host (name ${local.hostname}, addresses ${[...local.addresses].map(formatIpv4).join(', ') || 'none'}) is not in the cluster file ${base.clusterFile}: ` +
      'add an entry whose ip is one of its addresses, or set PODNET_NODE_NAME',
  );
}
