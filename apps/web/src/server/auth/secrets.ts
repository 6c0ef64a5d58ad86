import { createHash, randomBytes } from 'node:crypto';

/** Session cookies, API/agent tokens and invite codes: 256 random bits, stored as sha256. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
