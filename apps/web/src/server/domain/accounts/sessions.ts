import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { memberships, sessions, users } from '@anneal/db/schema';
import { and, asc, eq, gt, lte } from 'drizzle-orm';
import { hashPassword, verifyPassword } from '../../auth/password.ts';
import type { Principal } from '../../auth/principal.ts';
import { hashSecret, newSecret } from '../../auth/secrets.ts';

export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

let dummyHash: Promise<string> | null = null;
/** A hash with the current parameters, checked against when the email has no account. */
const unknownUserHash = () => {
  dummyHash ??= hashPassword(newSecret('unknown'));
  return dummyHash;
};

/** The user and first organization of an email and password; one message for every miss. */
export async function checkPassword(db: Db, email: string, password: string) {
  const [user] = await db.select().from(users).where(eq(users.email, email));
  // Same message and the same scrypt cost either way: neither the answer nor its timing may
  // reveal which emails have accounts.
  const ok = await verifyPassword(password, user?.passwordHash ?? (await unknownUserHash()));
  if (!user || !ok) throw new AppError('UNAUTHORIZED', 'wrong email or password');
  const [membership] = await db
    .select()
    .from(memberships)
    .where(eq(memberships.userId, user.id))
    .orderBy(asc(memberships.createdAt))
    .limit(1);
  if (!membership) throw new AppError('FORBIDDEN', 'this account belongs to no organization');
  return { userId: user.id, orgId: membership.orgId };
}

export async function openSession(db: Db, userId: string, orgId: string, now = new Date()) {
  // Expired sessions are swept when their user signs in again.
  await db.delete(sessions).where(and(eq(sessions.userId, userId), lte(sessions.expiresAt, now)));
  const secret = newSecret('as');
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db.insert(sessions).values({ tokenHash: hashSecret(secret), userId, orgId, expiresAt });
  return { secret, expiresAt };
}

export async function closeSession(db: Db, secret: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.tokenHash, hashSecret(secret)));
}

/** The principal behind a session cookie, or null when it is unknown or expired. */
export async function sessionPrincipal(
  db: Db,
  secret: string,
  now = new Date(),
): Promise<Principal | null> {
  const [row] = await db
    .select({
      sessionId: sessions.id,
      userId: users.id,
      email: users.email,
      orgId: sessions.orgId,
      role: memberships.role,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .innerJoin(
      memberships,
      and(eq(memberships.userId, sessions.userId), eq(memberships.orgId, sessions.orgId)),
    )
    .where(and(eq(sessions.tokenHash, hashSecret(secret)), gt(sessions.expiresAt, now)));
  if (!row) return null;
  return {
    userId: row.userId,
    email: row.email,
    orgId: row.orgId,
    role: row.role,
    via: 'session',
    credentialId: row.sessionId,
  };
}
