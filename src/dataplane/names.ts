/**
 * Endpoint link names (DESIGN.md): pn + 12 hex of the EndpointID on the bridge, pt + the same
 * 12 hex for the end Docker moves into the sandbox. Two endpoints whose IDs share the first 12
 * hex digits get names from further along the ID: every candidate is still pn/pt + 12 hex.
 */
export function endpointLinkCandidates(endpointId: string): { hostVeth: string; peerVeth: string }[] {
  const out: { hostVeth: string; peerVeth: string }[] = [];
  for (let i = 0; i + 12 <= endpointId.length; i += 12) {
    const tag = endpointId.slice(i, i + 12);
    out.push({ hostVeth: `pn${tag}`, peerVeth: `pt${tag}` });
  }
  return out;
}

export function hostVethName(endpointId: string): string {
  return `pn${endpointId.slice(0, 12)}`;
}

export function containerVethName(endpointId: string): string {
  return `pt${endpointId.slice(0, 12)}`;
}

export const HOST_VETH_PATTERN = /^pn[0-9a-f]{12}$/;
