/**
 * Docker's libnetwork remote driver protocol, field names as on the wire (LIBNETWORK.md).
 * Requests are what the API layer hands over after validation: nulls already turned into
 * empty maps and lists.
 */

export interface IPAMData {
  AddressSpace: string;
  Pool: string;
  Gateway?: string;
  AuxAddresses: Record<string, string>;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options: Record<string, unknown>;
  IPv4Data: IPAMData[];
  IPv6Data: IPAMData[];
}

export interface NetworkIdRequest {
  NetworkID: string;
}

export interface EndpointInterface {
  Address: string;
  AddressIPv6: string;
  MacAddress: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Interface: EndpointInterface;
  Options: Record<string, unknown>;
}

export interface CreateEndpointResponse {
  Interface?: Partial<EndpointInterface>;
}

export interface EndpointRequest {
  NetworkID: string;
  EndpointID: string;
}

export interface JoinRequest {
  NetworkID: string;
  EndpointID: string;
  SandboxKey: string;
  Options: Record<string, unknown>;
}

export interface StaticRoute {
  Destination: string;
  RouteType: 0 | 1;
  NextHop: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway: string;
  GatewayIPv6: string;
  StaticRoutes: StaticRoute[];
  DisableGatewayService: boolean;
}

export interface PortBinding {
  Proto: number;
  IP: string;
  Port: number;
  HostIP: string;
  HostPort: number;
  HostPortEnd: number;
}

export interface ProgramExternalConnectivityRequest {
  NetworkID: string;
  EndpointID: string;
  Options: Record<string, unknown>;
}

export interface NetworkCapabilities {
  Scope: 'local' | 'global';
  ConnectivityScope: 'local' | 'global';
}

export interface IpamCapabilities {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

export interface AddressSpaces {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export interface RequestPoolRequest {
  AddressSpace: string;
  Pool: string;
  SubPool: string;
  Options: Record<string, string>;
  V6: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface RequestAddressRequest {
  PoolID: string;
  Address: string;
  Options: Record<string, string>;
}

export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}

export interface ReleaseAddressRequest {
  PoolID: string;
  Address: string;
}

export type Empty = Record<string, never>;

/** One method per NetworkDriver call. */
export interface NetworkDriver {
  getCapabilities(): Promise<NetworkCapabilities>;
  createNetwork(req: CreateNetworkRequest): Promise<Empty>;
  deleteNetwork(req: NetworkIdRequest): Promise<Empty>;
  createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse>;
  deleteEndpoint(req: EndpointRequest): Promise<Empty>;
  endpointOperInfo(req: EndpointRequest): Promise<{ Value: Record<string, unknown> }>;
  join(req: JoinRequest): Promise<JoinResponse>;
  leave(req: EndpointRequest): Promise<Empty>;
  programExternalConnectivity(req: ProgramExternalConnectivityRequest): Promise<Empty>;
  revokeExternalConnectivity(req: EndpointRequest): Promise<Empty>;
}

/** One method per IpamDriver call. */
export interface IpamDriver {
  getCapabilities(): Promise<IpamCapabilities>;
  getDefaultAddressSpaces(): Promise<AddressSpaces>;
  requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse>;
  releasePool(req: { PoolID: string }): Promise<Empty>;
  requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse>;
  releaseAddress(req: ReleaseAddressRequest): Promise<Empty>;
}
