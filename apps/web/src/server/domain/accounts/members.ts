import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { invites, memberships, organizations, type Role, users } from '@anneal/db/schema';
import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import { hashPassword, verifyPassword } from '../../auth/password.ts';
import type { Principal } from '../../auth/principal.ts';
import { hashSecret, newSecret } from '../../auth/secrets.ts';

const INVITE_TTL_MS = 7 * 24 * 3600 * 1000;

export async function listMembers(db: Db, orgId: string) {
  return db
    .select({
      userId: users.id,
      email: users.email,
      name: users.name,
      role: memberships.role,
      since: memberships.createdAt,
    })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.orgId, orgId))
    .orderBy(asc(memberships.createdAt));
}

export async function listPendingInvites(db: Db, orgId: string, now = new Date()) {
  return db
    .select({
      id: invites.id,
      email: invites.email,
      role: invites.role,
      expiresAt: invites.expiresAt,
    })
    .from(invites)
    .where(and(eq(invites.orgId, orgId), isNull(invites.acceptedAt), gt(invites.expiresAt, now)))
    .orderBy(asc(invites.createdAt));
}

/** An invite link's secret; returned once, stored hashed. */
export async function inviteMember(
  db: Db,
  principal: Principal,
  email: string,
  role: Role,
  now = new Date(),
) {
  const [member] = await db
    .select({ id: users.id })
    .from(users)
    .innerJoin(memberships, eq(memberships.userId, users.id))
    .where(and(eq(users.email, email), eq(memberships.orgId, principal.orgId)));
  if (member) throw new AppError('CONFLICT', `email: ${email} is already a member`);
  const secret = newSecret('inv');
  await db.insert(invites).values({
    orgId: principal.orgId,
    email,
    role,
    tokenHash: hashSecret(secret),
    invitedBy: principal.userId,
    expiresAt: new Date(now.getTime() + INVITE_TTL_MS),
  });
  return { code: secret, email, role };
}

/** What the invite page shows before the invitee sets a password. */
export async function describeInvite(db: Db, code: string, now = new Date()) {
  const [row] = await db
    .select({
      email: invites.email,
      role: invites.role,
      orgName: organizations.name,
      hasAccount: sql<boolean>`exists (select 1 from users u where u.email = invites.email)`,
    })
    .from(invites)
    .innerJoin(organizations, eq(organizations.id, invites.orgId))
    .where(
      and(
        eq(invites.tokenHash, hashSecret(code)),
        isNull(invites.acceptedAt),
        gt(invites.expiresAt, now),
      ),
    );
  if (!row) throw new AppError('NOT_FOUND', 'this invite link is unknown, used or expired');
  return row;
}

/**
 * Accepts an invite: creates the account (or checks the existing account's password) and
 * adds the membership, in one transaction so a half-accepted invite cannot exist.
 */
export async function acceptInvite(
  db: Db,
  input: { code: string; password: string; name?: string | undefined },
  now = new Date(),
) {
  const newHash = await hashPassword(input.password);
  return db.transaction(async (tx) => {
    const [invite] = await tx
      .select()
      .from(invites)
      .where(
        and(
          eq(invites.tokenHash, hashSecret(input.code)),
          isNull(invites.acceptedAt),
          gt(invites.expiresAt, now),
        ),
      )
      .for('update');
    if (!invite) throw new AppError('NOT_FOUND', 'this invite link is unknown, used or expired');
    let [user] = await tx.select().from(users).where(eq(users.email, invite.email));
    if (user) {
      if (!(await verifyPassword(input.password, user.passwordHash)))
        throw new AppError('UNAUTHORIZED', 'password: wrong password for the existing account');
    } else {
      [user] = await tx
        .insert(users)
        .values({ email: invite.email, name: input.name ?? '', passwordHash: newHash })
        .returning();
    }
    if (!user) throw new AppError('INTERNAL', 'could not create the account');
    await tx
      .insert(memberships)
      .values({ orgId: invite.orgId, userId: user.id, role: invite.role })
      .onConflictDoUpdate({
        target: [memberships.orgId, memberships.userId],
        set: { role: invite.role },
      });
    await tx.update(invites).set({ acceptedAt: now }).where(eq(invites.id, invite.id));
    return { userId: user.id, orgId: invite.orgId };
  });
}

export async function changeRole(db: Db, principal: Principal, userId: string, role: Role) {
  if (userId === principal.userId && role !== 'owner')
    throw new AppError('BAD_REQUEST', 'userId: an owner cannot demote themselves');
  const [row] = await db
    .update(memberships)
    .set({ role })
    .where(and(eq(memberships.orgId, principal.orgId), eq(memberships.userId, userId)))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `userId: no member ${userId}`);
}

export async function removeMember(db: Db, principal: Principal, userId: string) {
  if (userId === principal.userId)
    throw new AppError('BAD_REQUEST', 'userId: an owner cannot remove themselves');
  const [row] = await db
    .delete(memberships)
    .where(and(eq(memberships.orgId, principal.orgId), eq(memberships.userId, userId)))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `userId: no member ${userId}`);
}
