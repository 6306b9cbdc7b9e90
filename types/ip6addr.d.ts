declare module 'ip6addr' {
  interface Addr {
    kind(): 'ipv4' | 'ipv6';
    toString(opts?: { format?: 'auto' | 'v4' | 'v4-mapped' | 'v6'; zeroElide?: boolean; zeroPad?: boolean }): string;
    toLong(): number;
    offset(n: number): Addr | null;
    compare(other: Addr | string): number;
  }
  interface CIDR {
    contains(input: Addr | string): boolean;
    first(): Addr;
    last(): Addr;
    broadcast(): Addr;
    address(): Addr;
    prefixLength(format?: string): number;
    toString(): string;
  }
  export function parse(input: string | number): Addr;
  export function createCIDR(cidr: string | Addr, plen?: number): CIDR;
  export function compare(a: Addr | string, b: Addr | string): number;
}
