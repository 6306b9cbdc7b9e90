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
  z.string({ required_error: `${what} is required` }).regex(/^[0-9a-fA-F]{64}$/, `${what} must be 64 hex digits (a Docker ID)`).transform((s) => s.toLowerCase());
const networkId = hexId('NetworkID');
/** A unicast MAC as Docker sends it (aa:bb:cc:dd:ee:ff), or empty: it goes into an ip command. */
const mac = z
  .string()
  .nullish()
  .transform((v) => v ?? '')
  .refine((v) => v === '' || /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(v), 'MacAddress must be six hex pairs like 02:42:0a:f4:01:05')
  .refine((v) => v === '' || (parseInt(v.slice(0, 2), 16) & 1) === 0, 'MacAddress must be unicast (the first byte even)')
  .transform((v) => v.toLowerCase());
const IPV4 = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}';
/** An IPv4 address with a prefix length (a.b.c.d/n), or empty. */
const cidrOrEmpty = (what: string) =>
  text.refine((v) => v === '' || new RegExp(`^${IPV4}/([0-9]|[12][0-9]|3[0-2])$`).test(v), `${what} must be an IPv4 address with a prefix length (a.b.c.d/n)`);
/** A bare IPv4 address, or empty. */
const ipv4OrEmpty = (what: string) => text.refine((v) => v === '' || new RegExp(`^${IPV4}$`).test(v), `${what} must be an IPv4 address (a.b.c.d)`);
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
      .object({ Address: cidrOrEmpty('Interface.Address'), AddressIPv6: text, MacAddress: mac })
      .passthrough()
      .nullish()
      .transform((v) => v ?? { Address: '', AddressIPv6: '', MacAddress: '' }),
    Options: anyMap,
  })
  .passthrough();

export const join: z.ZodType<JoinRequest, z.ZodTypeDef, unknown> = z
  .object({
    NetworkID: networkId,
    EndpointID: endpointId,
    SandboxKey: text.refine((v) => v.length <= 4096 && !/[\x00-\x1f]/.test(v), 'SandboxKey must be a path without control characters'),
    Options: anyMap,
  })
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
    Address: ipv4OrEmpty('Address'),
    Options: stringMap,
  })
  .passthrough();

export const releaseAddress: z.ZodType<ReleaseAddressRequest, z.ZodTypeDef, unknown> = z
  .object({
    PoolID: z.string({ required_error: 'PoolID is required' }).min(1, 'PoolID is required'),
    Address: z.string({ required_error: 'Address is required' }).regex(new RegExp(`^${IPV4}(/([0-9]|[12][0-9]|3[0-2]))?$`), 'Address must be an IPv4 address'),
  })
  .passthrough();

export const empty = z.unknown();
