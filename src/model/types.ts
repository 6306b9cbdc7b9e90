/** Domain records as the store keeps them. Leaf module. */

export interface PoolRecord {
  readonly poolId: string;
  /** What Docker was told: the cluster CIDR, or 0.0.0.0/0 when the user gave no --subnet. */
  readonly pool: string;
  /** --ip-range, when given: addresses are handed out only from it. */
  readonly subPool: string | null;
  readonly createdAt: number;
}

export type AddressKind = 'endpoint' | 'aux';

export interface AddressRecord {
  readonly poolId: string;
  readonly address: number;
  readonly kind: AddressKind;
  readonly allocatedAt: number;
  /** The endpoint this address is bound to (CreateEndpoint); null while allocated or quarantined. */
  readonly endpointId: string | null;
  /** When its endpoint died: the address is reused only after the grace period from then. */
  readonly quarantinedAt: number | null;
}

export interface NetworkRecord {
  readonly networkId: string;
  readonly internal: boolean;
  /** Endpoint MTU for this network (computed, or the user's -o com.docker.network.driver.mtu). */
  readonly mtu: number;
  readonly createdAt: number;
  /** The IPAM pool Docker allocated the network from: its ReleasePool ends the network too. */
  readonly poolId: string;
}

/** Where an endpoint is in its lifecycle (docs/endpoint-lifecycle.md). */
export type EndpointState = 'bound' | 'joining' | 'joined' | 'left';

export interface EndpointRecord {
  readonly endpointId: string;
  readonly networkId: string;
  readonly address: number;
  readonly mac: string;
  /** Host-side veth name on the bridge; recorded before it is made, kept while joining/joined. */
  readonly hostVeth: string | null;
  /** The end Docker moves into the sandbox (its name in the host namespace). */
  readonly peerVeth: string | null;
  readonly createdAt: number;
  readonly state: EndpointState;
  /** When the endpoint entered its state (ms). */
  readonly stateSince: number;
  /** The sandbox (network namespace path) of the Join; '' when not joined. */
  readonly sandboxKey: string;
}

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface HostPortRecord {
  readonly endpointId: string;
  readonly protocol: Protocol;
  /** '' means every host address. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
  readonly podIp: number;
}
