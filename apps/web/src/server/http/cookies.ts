import type { IncomingMessage, ServerResponse } from 'node:http';

export const SESSION_COOKIE = 'anneal_session';
/** A known device of an account (auth/known-devices.ts); only sign-in reads it. */
export const DEVICE_COOKIE = 'anneal_device';
const DEVICE_COOKIE_MAX_AGE_S = 400 * 24 * 3600; // the longest browsers keep a cookie

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name)
      return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function secure(req: IncomingMessage): boolean {
  return req.headers['x-forwarded-proto'] === 'https' || 'encrypted' in req.socket;
}

export function setSessionCookie(
  req: IncomingMessage,
  res: ServerResponse,
  secret: string,
  expires: Date,
): void {
  const attrs = [
    `${SESSION_COOKIE}=${encodeURIComponent(secret)}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Expires=${expires.toUTCString()}`,
  ];
  if (secure(req)) attrs.push('Secure');
  res.appendHeader('Set-Cookie', attrs.join('; '));
}

export function clearSessionCookie(res: ServerResponse): void {
  res.appendHeader('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
}

/** Marks this browser a known device (long-lived; sent only to tRPC, where sign-in is). */
export function setDeviceCookie(req: IncomingMessage, res: ServerResponse, value: string): void {
  const attrs = [
    `${DEVICE_COOKIE}=${encodeURIComponent(value)}`,
    'Path=/api/trpc',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${DEVICE_COOKIE_MAX_AGE_S}`,
  ];
  if (secure(req)) attrs.push('Secure');
  res.appendHeader('Set-Cookie', attrs.join('; '));
}
