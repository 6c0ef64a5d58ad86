import type { IncomingMessage } from 'node:http';
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { sessionPrincipal } from '../domain/accounts/sessions.ts';
import { tokenPrincipal } from '../domain/accounts/tokens.ts';
import { readCookie, SESSION_COOKIE } from '../http/cookies.ts';
import type { Principal } from './principal.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Browsers send Origin on every cross-site and same-site non-GET request. A cookie-carrying
 * request that changes state must come from our own origin (CSRF), whatever SameSite says.
 */
export function checkOrigin(req: IncomingMessage): void {
  if (SAFE_METHODS.has(req.method ?? 'GET')) return;
  const origin = req.headers.origin;
  const host = req.headers['x-forwarded-host'] ?? req.headers.host;
  if (!origin) throw new AppError('FORBIDDEN', 'Origin header required for browser mutations');
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    throw new AppError('FORBIDDEN', 'Origin header is not a URL');
  }
  if (originHost !== host)
    throw new AppError('FORBIDDEN', `cross-origin request from ${origin} refused`);
}

/** Bearer token first (API and agent tokens), else the session cookie; null when neither. */
export async function authenticate(db: Db, req: IncomingMessage): Promise<Principal | null> {
  const header = req.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new AppError('UNAUTHORIZED', 'Authorization: expected "Bearer <token>"');
    const principal = await tokenPrincipal(db, match[1]);
    if (!principal) throw new AppError('UNAUTHORIZED', 'Authorization: unknown or revoked token');
    return principal;
  }
  const secret = readCookie(req, SESSION_COOKIE);
  if (!secret) {
    if (!SAFE_METHODS.has(req.method ?? 'GET') && req.headers.origin) checkOrigin(req);
    return null;
  }
  checkOrigin(req);
  return sessionPrincipal(db, secret);
}
