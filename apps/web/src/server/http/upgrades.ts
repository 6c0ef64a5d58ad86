import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Paths kept for our own WebSockets even before a handler attaches. */
export const RESERVED_UPGRADE_PATHS = ['/agent'] as const;

/**
 * WebSocket upgrades by path. `/agent` belongs to the agents' gateway, which attaches with
 * `register('/agent', handler)`; every other path goes to the fallback (Next's own
 * upgrade handler, where its dev reload socket lives).
 */
export class UpgradeRoutes {
  readonly #handlers = new Map<string, UpgradeHandler>();

  register(path: string, handler: UpgradeHandler): void {
    if (this.#handlers.has(path))
      throw new Error(`an upgrade handler for ${path} is already registered`);
    this.#handlers.set(path, handler);
  }

  handle(req: IncomingMessage, socket: Duplex, head: Buffer, fallback?: UpgradeHandler): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const handler = this.#handlers.get(path);
    if (handler) {
      handler(req, socket, head);
      return;
    }
    if ((RESERVED_UPGRADE_PATHS as readonly string[]).includes(path) || !fallback) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    fallback(req, socket, head);
  }
}
