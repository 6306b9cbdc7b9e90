import { SettingsError } from '../errors';
import { ipJson } from './host';

interface IpLinkDetail {
  ifname: string;
  linkinfo?: { info_kind?: string };
}

/**
 * Refuses a PODNET_BRIDGE that names an existing link which is not a Linux bridge (a veth, a
 * dummy, a NIC, an OVS port...): podnet would put the node's gateway address and route_localnet=1
 * on it, attach pods to it, and `podnet cleanup` would take it for its own. No link of that name
 * is fine: podnet creates the bridge. One `ip` call.
 */
export async function checkBridge(name: string): Promise<void> {
  const link = (await ipJson<IpLinkDetail>(['-d', 'link', 'show', 'dev', name]))[0];
  if (!link) return;
  const kind = link.linkinfo?.info_kind;
  if (kind === 'bridge') return;
  const what = kind === undefined ? 'device with no link kind (a network card?)' : `${kind} device`;
  throw new SettingsError(
    `PODNET_BRIDGE=${name} names a ${what}, not a Linux bridge: podnet would put the node's gateway on it and attach pods to it; ` +
      `set PODNET_BRIDGE to an existing bridge or to a free name (podnet then creates the bridge), or rename or remove ${name}`,
  );
}
