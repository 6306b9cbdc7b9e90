/** Host-side veth names (DESIGN.md): pn + 12 hex of the EndpointID on the bridge, pt + 12 hex for the end Docker moves. */
export function hostVethName(endpointId: string): string {
  return `pn${endpointId.slice(0, 12)}`;
}

export function containerVethName(endpointId: string): string {
  return `pt${endpointId.slice(0, 12)}`;
}

export const HOST_VETH_PATTERN = /^pn[0-9a-f]{12}$/;
