import createDebug from 'debug';
import { InvalidRequestError } from '../errors';
import { parseIpv4 } from '../model/cidr';
import { GATEWAY_KEY, REQUEST_ADDRESS_TYPE, type Ipam } from '../ipam/ipam';
import type {
  AddressSpaces,
  Empty,
  IpamCapabilities,
  IpamDriver,
  ReleaseAddressRequest,
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
} from './protocol';

const debug = createDebug('podnet:ipam-driver');

export const LOCAL_ADDRESS_SPACE = 'podnet-local';
export const GLOBAL_ADDRESS_SPACE = 'podnet-global';

/** The libnetwork IPAM semantics over podnet's allocator. */
export class PodnetIpamDriver implements IpamDriver {
  constructor(
    private readonly ipam: Ipam,
    /** Ends the networks stored for a pool Docker releases (a rolled-back CreateNetwork). */
    private readonly onReleasePool: (poolId: string) => Promise<void> = async () => undefined,
  ) {}

  async getCapabilities(): Promise<IpamCapabilities> {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  async getDefaultAddressSpaces(): Promise<AddressSpaces> {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    const answer = this.ipam.requestPool({ pool: req.Pool, subPool: req.SubPool, v6: req.V6, options: req.Options });
    return { PoolID: answer.poolId, Pool: answer.pool, Data: { [GATEWAY_KEY]: answer.gatewayCidr } };
  }

  async releasePool(req: { PoolID: string }): Promise<Empty> {
    await this.onReleasePool(req.PoolID);
    this.ipam.releasePool(req.PoolID);
    return {};
  }

  async requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse> {
    const isGateway = req.Options[REQUEST_ADDRESS_TYPE] === GATEWAY_KEY;
    const address = this.ipam.requestAddress(req.PoolID, req.Address, isGateway);
    return { Address: address, Data: {} };
  }

  async releaseAddress(req: ReleaseAddressRequest): Promise<Empty> {
    try {
      parseIpv4(req.Address);
    } catch {
      throw new InvalidRequestError(`ReleaseAddress: "${req.Address}" is not an IPv4 address`);
    }
    const released = this.ipam.releaseAddress(req.PoolID, req.Address);
    debug('release %s from %s: %s', req.Address, req.PoolID, released ? 'freed' : 'not freed (not allocated, reserved, or bound to a live endpoint)');
    return {};
  }
}
