import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { memberships, tokens, users } from '@anneal/db/schema';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import { hashSecret, newSecret } from '../../auth/secrets.ts';

export const tokenKindSchema = z.enum(['api', 'agent']);
export type TokenKind = z.infer<typeof tokenKindSchema>;

const PREFIX: Record<TokenKind, string> = { api: 'anneal_api', agent: 'anneal_agent' };

/** Creates a token; the secret is returned this once and only its sha256 is stored. */
export async function createToken(
  db: Db,
  owner: { userId: string; orgId: string },
  kind: TokenKind,
  name: string,
) {
  const secret = newSecret(PREFIX[kind]);
  const [row] = await db
    .insert(tokens)
    .values({
      kind,
      name,
      prefix: secret.slice(0, PREFIX[kind].length + 7),
      tokenHash: hashSecret(secret),
      userId: owner.userId,
      orgId: owner.orgId,
    })
    .returning();
  if (!row) throw new AppError('INTERNAL', 'could not create the token');
  return { id: row.id, kind, name, prefix: row.prefix, token: secret };
}

export async function listTokens(db: Db, orgId: string, userId: string) {
  return db
    .select({
      id: tokens.id,
      kind: tokens.kind,
      name: tokens.name,
      prefix: tokens.prefix,
      createdAt: tokens.createdAt,
      lastUsedAt: tokens.lastUsedAt,
      revokedAt: tokens.revokedAt,
    })
    .from(tokens)
    .where(and(eq(tokens.orgId, orgId), eq(tokens.userId, userId)))
    .orderBy(desc(tokens.createdAt));
}

/** Owners may revoke any token of their organization; others only their own. */
export async function revokeToken(db: Db, principal: Principal, tokenId: string) {
  const mine = principal.role === 'owner' ? undefined : eq(tokens.userId, principal.userId);
  const [row] = await db
    .update(tokens)
    .set({ revokedAt: new Date() })
    .where(
      and(
        eq(tokens.id, tokenId),
        eq(tokens.orgId, principal.orgId),
        isNull(tokens.revokedAt),
        mine,
      ),
    )
    .returning({ id: tokens.id });
  if (!row) throw new AppError('NOT_FOUND', `tokenId: no active token ${tokenId}`);
}

/** The principal behind a bearer token, or null when it is unknown or revoked. */
export async function tokenPrincipal(db: Db, secret: string): Promise<Principal | null> {
  const [row] = await db
    .select({
      id: tokens.id,
      kind: tokens.kind,
      userId: tokens.userId,
      orgId: tokens.orgId,
      email: users.email,
      role: memberships.role,
    })
    .from(tokens)
    .innerJoin(users, eq(users.id, tokens.userId))
    .innerJoin(
      memberships,
      and(eq(memberships.userId, tokens.userId), eq(memberships.orgId, tokens.orgId)),
    )
    .where(and(eq(tokens.tokenHash, hashSecret(secret)), isNull(tokens.revokedAt)));
  if (!row) return null;
  // Best effort, at most once a minute: agents call per metric batch, and a lost update of
  // last-used time is harmless.
  void db
    .update(tokens)
    .set({ lastUsedAt: new Date() })
    .where(
      and(
        eq(tokens.id, row.id),
        sql`(${tokens.lastUsedAt} is null or ${tokens.lastUsedAt} < now() - interval '1 minute')`,
      ),
    )
    .catch(() => {});
  return {
    userId: row.userId,
    email: row.email,
    orgId: row.orgId,
    role: row.role,
    via: row.kind,
    credentialId: row.id,
  };
}
