import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '@anneal/db/client';
import { users } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';

/**
 * Known-device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a
 * browser that signed in to an account carries `userId.device.mac`, the mac an HMAC with the
 * server's key. Such a browser is limited by its own failures only, so an attacker who fails
 * on purpose against the account from elsewhere cannot keep the owner out.
 */
export class KnownDevices {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    this.#key = key;
  }

  /** A new cookie value naming a new device of `userId`. */
  issue(userId: string): string {
    const device = randomBytes(16).toString('base64url');
    return `${userId}.${device}.${this.#mac(userId, device)}`;
  }

  /** The user and device a cookie value names, or null unless the server signed it. */
  read(value: string | undefined): { userId: string; device: string } | null {
    const [userId, device, mac, ...rest] = (value ?? '').split('.');
    if (!userId || !device || !mac || rest.length > 0) return null;
    const expected = Buffer.from(this.#mac(userId, device));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return { userId, device };
  }

  /** The device a cookie names when it is a known device of `email`'s account; else null. */
  async deviceOf(db: Db, value: string | undefined, email: string): Promise<string | null> {
    const known = this.read(value);
    if (!known) return null;
    const [user] = await db.select({ id: users.id }).from(users).where(eq(users.email, email));
    return user?.id === known.userId ? known.device : null;
  }

  #mac(userId: string, device: string): string {
    return createHmac('sha256', this.#key)
      .update(`anneal-device\0${userId}\0${device}`)
      .digest('base64url');
  }
}
