import { createServer, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';
import { ConflictError } from '../errors';
import type { Protocol } from '../model/types';

function key(protocol: Protocol, hostIp: string, port: number): string {
  return `${protocol}/${hostIp || '0.0.0.0'}:${port}`;
}

/**
 * Holds a host port open while it is published (as Kubernetes' hostport manager does): proof that
 * no host process uses it now, and a guarantee that none takes it later. Connections never reach
 * these sockets: DNAT redirects them to the pod first.
 */
export class HostPortHolder {
  private readonly held = new Map<string, Server | Socket>();

  async hold(protocol: Protocol, hostIp: string, port: number): Promise<void> {
    const k = key(protocol, hostIp, port);
    if (this.held.has(k) || protocol === 'sctp') return; // Node cannot open SCTP sockets; rules still apply
    const host = hostIp || '0.0.0.0';
    const sock = protocol === 'tcp' ? await listenTcp(host, port) : await bindUdp(host, port);
    this.held.set(k, sock);
  }

  release(protocol: Protocol, hostIp: string, port: number): void {
    const k = key(protocol, hostIp, port);
    const sock = this.held.get(k);
    if (!sock) return;
    this.held.delete(k);
    sock.close();
  }

  releaseAll(): void {
    for (const s of this.held.values()) s.close();
    this.held.clear();
  }
}

function taken(protocol: string, host: string, port: number, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE') {
    return new ConflictError(
      `host port ${host}:${port}/${protocol} is already in use by a process on this host: stop it, or publish another host port`,
    );
  }
  if (err.code === 'EADDRNOTAVAIL') {
    return new ConflictError(`host address ${host} is not an address of this host: publish on one of its addresses, or leave the address out`);
  }
  return new ConflictError(`cannot reserve host port ${host}:${port}/${protocol}: ${err.message}`);
}

function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((conn) => conn.destroy());
    srv.once('error', (err: NodeJS.ErrnoException) => reject(taken('tcp', host, port, err)));
    srv.listen({ host, port, exclusive: true, backlog: 1 }, () => resolve(srv));
  });
}

function bindUdp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp4' });
    sock.once('error', (err: NodeJS.ErrnoException) => reject(taken('udp', host, port, err)));
    sock.bind({ address: host, port, exclusive: true }, () => resolve(sock));
  });
}
