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
): string | undefined {
  const peer = unmap(req.socket.remoteAddress);
  if (!peer || !trustedProxies.includes(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
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
