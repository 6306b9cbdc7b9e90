import type { z } from 'zod';
import type { IpamDriver, NetworkDriver } from '../driver/protocol';
import * as s from './schemas';

/** One route: the request schema and the driver method it maps to. */
export interface Route {
  readonly schema: z.ZodType<unknown, z.ZodTypeDef, unknown>;
  /** Calls that answer from constants need not wait for start-up reconcile. */
  readonly immediate?: boolean;
  readonly call: (body: never) => Promise<object>;
}

export interface Drivers {
  readonly network: NetworkDriver;
  readonly ipam: IpamDriver;
}

const ok = async (): Promise<object> => ({});

/** Path -> method, for every call of LIBNETWORK.md. The binder in server.ts does the rest. */
export function routeTable({ network: n, ipam: i }: Drivers): Readonly<Record<string, Route>> {
  return {
    '/Plugin.Activate': { schema: s.empty, immediate: true, call: async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }) },

    '/NetworkDriver.GetCapabilities': { schema: s.empty, immediate: true, call: () => n.getCapabilities() },
    '/NetworkDriver.CreateNetwork': { schema: s.createNetwork, call: (b: z.output<typeof s.createNetwork>) => n.createNetwork(b) },
    '/NetworkDriver.DeleteNetwork': { schema: s.networkIdOnly, call: (b: z.output<typeof s.networkIdOnly>) => n.deleteNetwork(b) },
    '/NetworkDriver.CreateEndpoint': { schema: s.createEndpoint, call: (b: z.output<typeof s.createEndpoint>) => n.createEndpoint(b) },
    '/NetworkDriver.DeleteEndpoint': { schema: s.endpoint, call: (b: z.output<typeof s.endpoint>) => n.deleteEndpoint(b) },
    '/NetworkDriver.EndpointOperInfo': { schema: s.endpoint, call: (b: z.output<typeof s.endpoint>) => n.endpointOperInfo(b) },
    '/NetworkDriver.Join': { schema: s.join, call: (b: z.output<typeof s.join>) => n.join(b) },
    '/NetworkDriver.Leave': { schema: s.endpoint, call: (b: z.output<typeof s.endpoint>) => n.leave(b) },
    '/NetworkDriver.ProgramExternalConnectivity': {
      schema: s.programExternalConnectivity,
      call: (b: z.output<typeof s.programExternalConnectivity>) => n.programExternalConnectivity(b),
    },
    '/NetworkDriver.RevokeExternalConnectivity': { schema: s.endpoint, call: (b: z.output<typeof s.endpoint>) => n.revokeExternalConnectivity(b) },
    // Swarm-only calls: podnet is a local-scope driver, so these are harmless no-ops.
    '/NetworkDriver.AllocateNetwork': { schema: s.empty, immediate: true, call: async () => ({ Options: {} }) },
    '/NetworkDriver.FreeNetwork': { schema: s.empty, immediate: true, call: ok },
    '/NetworkDriver.DiscoverNew': { schema: s.empty, immediate: true, call: ok },
    '/NetworkDriver.DiscoverDelete': { schema: s.empty, immediate: true, call: ok },

    '/IpamDriver.GetCapabilities': { schema: s.empty, immediate: true, call: () => i.getCapabilities() },
    '/IpamDriver.GetDefaultAddressSpaces': { schema: s.empty, immediate: true, call: () => i.getDefaultAddressSpaces() },
    '/IpamDriver.RequestPool': { schema: s.requestPool, call: (b: z.output<typeof s.requestPool>) => i.requestPool(b) },
    '/IpamDriver.ReleasePool': { schema: s.releasePool, call: (b: z.output<typeof s.releasePool>) => i.releasePool(b) },
    '/IpamDriver.RequestAddress': { schema: s.requestAddress, call: (b: z.output<typeof s.requestAddress>) => i.requestAddress(b) },
    '/IpamDriver.ReleaseAddress': { schema: s.releaseAddress, call: (b: z.output<typeof s.releaseAddress>) => i.releaseAddress(b) },
  };
}
