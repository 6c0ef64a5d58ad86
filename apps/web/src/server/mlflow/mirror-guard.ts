import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where the MLflow mirror may send requests. A project owner names the URL, and the server
 * sends from inside its own network, so without a guard the mirror reaches what only the
 * server can reach (cloud metadata at 169.254.169.254, the database, admin ports). The
 * guard refuses a URL that resolves to a loopback, link-local, private (RFC 1918, unique
 * local), shared (RFC 6598) or unspecified address, unless an administrator lists its host
 * in ANNEAL_MLFLOW_MIRROR_HOSTS (comma-separated `host` or `host:port`), as for an MLflow
 * server on the same machine or network.
 */
export const MIRROR_HOSTS_ENV = 'ANNEAL_MLFLOW_MIRROR_HOSTS';

const internal = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['255.255.255.255', 32],
] as const)
  internal.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fe80::', 10],
  ['fc00::', 7],
] as const)
  internal.addSubnet(net, bits, 'ipv6');

/** Whether an address is one the mirror must not reach unless allowlisted (IPv4-mapped IPv6 included). */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return internal.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** The allowlist from the environment: lower-cased `host` and `host:port` entries. */
export function mirrorAllowlist(
  env: Record<string, string | undefined> = process.env,
): Set<string> {
  return new Set(
    (env[MIRROR_HOSTS_ENV] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Why `raw` is not a URL the mirror takes, or null: http(s), no credentials, query or fragment. */
export function mirrorUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `"${raw}" is not a URL; give the MLflow tracking URI`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `must be http or https, not ${url.protocol}`;
  if (url.username || url.password) return 'put credentials in token, not in the URL';
  if (url.search || raw.includes('?')) return 'the tracking URI takes no query string';
  if (url.hash || raw.includes('#')) return 'the tracking URI takes no fragment';
  return null;
}

export type Resolve = (host: string) => Promise<string[]>;
const resolveAll: Resolve = async (host) =>
  (await lookup(host, { all: true })).map((a) => a.address);

/**
 * Why the mirror may not send to `raw`, or null. The host is resolved and every address
 * checked (a name with one public and one internal address is refused).
 */
export async function mirrorDestinationProblem(
  raw: string,
  allow: Set<string> = mirrorAllowlist(),
  resolve: Resolve = resolveAll,
): Promise<string | null> {
  const shape = mirrorUrlProblem(raw);
  if (shape) return shape;
  const url = new URL(raw);
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (allow.has(host) || allow.has(`${host}:${port}`) || allow.has(`[${host}]:${port}`))
    return null;
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : await resolve(host);
  } catch (err) {
    return `cannot resolve ${host}: ${(err as { code?: string }).code ?? 'lookup failed'}`;
  }
  const bad = addresses.find(isInternalAddress);
  if (bad)
    return `${host} resolves to ${bad}, an internal address; an administrator may allow it with ${MIRROR_HOSTS_ENV}=${host}:${port}`;
  return null;
}
