import { z } from 'zod';
import type {
  CreateEndpointRequest,
  CreateNetworkRequest,
  EndpointRequest,
  JoinRequest,
  NetworkIdRequest,
  ProgramExternalConnectivityRequest,
  ReleaseAddressRequest,
  RequestAddressRequest,
  RequestPoolRequest,
} from '../driver/protocol';

/*
 * Wire input, validated once: lenient in what Docker may send (any map or list may be null,
 * unknown keys pass), strict about what podnet later puts into host commands (IDs are hex).
 */

const text = z.string().nullish().transform((v) => v ?? '');
const anyMap = z.record(z.unknown()).nullish().transform((v) => v ?? {});
const stringMap = z
  .record(z.unknown())
  .nullish()
  .transform((v) => Object.fromEntries(Object.entries(v ?? {}).map(([k, x]) => [k, x === null || x === undefined ? '' : String(x)])));
const hexId = (what: string) =>
  z.string({ required_error: `${what} is required` }).regex(/^[0-9a-fA-F]{12,64}$/, `${what} must be 12-64 hex digits`).transform((s) => s.toLowerCase());
const networkId = hexId('NetworkID');
const endpointId = hexId('EndpointID');

const ipamData = z
  .object({
    AddressSpace: text,
    Pool: z.string({ required_error: 'Pool is required in IPv4Data' }),
    Gateway: z.string().nullish().transform((v) => v ?? undefined),
    AuxAddresses: stringMap,
  })
  .passthrough();

export const createNetwork: z.ZodType<CreateNetworkRequest, z.ZodTypeDef, unknown> = z
  .object({
    NetworkID: networkId,
    Options: anyMap,
    IPv4Data: z.array(ipamData).nullish().transform((v) => v ?? []),
    IPv6Data: z.array(ipamData).nullish().transform((v) => v ?? []),
  })
  .passthrough();

export const networkIdOnly: z.ZodType<NetworkIdRequest, z.ZodTypeDef, unknown> = z.object({ NetworkID: networkId }).passthrough();

export const endpoint: z.ZodType<EndpointRequest, z.ZodTypeDef, unknown> = z
  .object({ NetworkID: networkId, EndpointID: endpointId })
  .passthrough();

export const createEndpoint: z.ZodType<CreateEndpointRequest, z.ZodTypeDef, unknown> = z
  .object({
    NetworkID: networkId,
    EndpointID: endpointId,
    Interface: z
      .object({ Address: text, AddressIPv6: text, MacAddress: text })
      .passthrough()
      .nullish()
      .transform((v) => v ?? { Address: '', AddressIPv6: '', MacAddress: '' }),
    Options: anyMap,
  })
  .passthrough();

export const join: z.ZodType<JoinRequest, z.ZodTypeDef, unknown> = z
  .object({ NetworkID: networkId, EndpointID: endpointId, SandboxKey: text, Options: anyMap })
  .passthrough();

export const programExternalConnectivity: z.ZodType<ProgramExternalConnectivityRequest, z.ZodTypeDef, unknown> = z
  .object({ NetworkID: networkId, EndpointID: endpointId, Options: anyMap })
  .passthrough();

export const requestPool: z.ZodType<RequestPoolRequest, z.ZodTypeDef, unknown> = z
  .object({
    AddressSpace: text,
    Pool: text,
    SubPool: text,
    Options: stringMap,
    V6: z.boolean().nullish().transform((v) => v ?? false),
  })
  .passthrough();

export const releasePool: z.ZodType<{ PoolID: string }, z.ZodTypeDef, unknown> = z
  .object({ PoolID: z.string({ required_error: 'PoolID is required' }).min(1, 'PoolID is required') })
  .passthrough();

export const requestAddress: z.ZodType<RequestAddressRequest, z.ZodTypeDef, unknown> = z
  .object({
    PoolID: z.string({ required_error: 'PoolID is required' }).min(1, 'PoolID is required'),
    Address: text,
    Options: stringMap,
  })
  .passthrough();

export const releaseAddress: z.ZodType<ReleaseAddressRequest, z.ZodTypeDef, unknown> = z
  .object({
    PoolID: z.string({ required_error: 'PoolID is required' }).min(1, 'PoolID is required'),
    Address: z.string({ required_error: 'Address is required' }),
  })
  .passthrough();

export const empty = z.unknown();
