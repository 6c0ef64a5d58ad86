import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * The address a request came from. Behind a reverse proxy every request arrives from the
 * proxy, so when the peer is one of `trustedProxies` the address is read from
 * X-Forwarded-For instead: the rightmost entry that is not itself a trusted proxy (entries
 * to its left are whatever the client chose to send). Without trusted proxies the header
 * is ignored: anyone could forge it.
 */
export function clientAddress(
  req: IncomingMessage,
  trustedProxies: readonly string[],
  warn: (line: string) => void = console.warn,
): string | undefined {
  const peer = unmap(req.socket.remoteAddress);
  const header = req.headers['x-forwarded-for'];
  if (!peer || !trustedProxies.includes(peer)) {
    if (header !== undefined && peer) warnUntrustedForward(peer, warn);
    return peer;
  }
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((h) => unmap(h.trim()))
    .filter((h): h is string => !!h && isIP(h) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (hop && !trustedProxies.includes(hop)) return hop;
  }
  return peer;
}

function unmap(address: string | undefined): string | undefined {
  return address?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

const warned = new WeakSet<(line: string) => void>();

/**
 * Says once (per log) that a peer sent X-Forwarded-For without being a trusted proxy:
 * behind an unlisted reverse proxy, every client shares the proxy's sign-in limits.
 */
function warnUntrustedForward(peer: string, warn: (line: string) => void): void {
  if (warned.has(warn)) return;
  warned.add(warn);
  warn(
    `[anneal-server] X-Forwarded-For arrived from ${peer}, which is not in ANNEAL_TRUSTED_PROXIES: ` +
      'the header is ignored and sign-in limits count that address for every client behind it. ' +
      'Behind a reverse proxy, set ANNEAL_TRUSTED_PROXIES to its address (this is said once).',
  );
}
