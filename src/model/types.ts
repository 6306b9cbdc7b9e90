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
}

export interface NetworkRecord {
  readonly networkId: string;
  readonly internal: boolean;
  /** Endpoint MTU for this network (computed, or the user's -o com.docker.network.driver.mtu). */
  readonly mtu: number;
  readonly createdAt: number;
}

export interface EndpointRecord {
  readonly endpointId: string;
  readonly networkId: string;
  readonly address: number;
  readonly mac: string;
  /** Host-side veth name on the bridge; set while joined. */
  readonly hostVeth: string | null;
  readonly createdAt: number;
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
