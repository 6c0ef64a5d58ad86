import { AppError } from '@anneal/core';
import type { Db, Tx } from '@anneal/db/client';
import { memberships, organizations, type Role, users } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { hashPassword } from '../../auth/password.ts';

export async function hasAnyUser(db: Db | Tx): Promise<boolean> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(users);
  return (row?.n ?? 0) > 0;
}

export interface NewUser {
  email: string;
  name?: string | undefined;
  password: string;
  orgName: string;
  role?: Role | undefined;
}

/**
 * Creates a user in an organization (created when no organization has that name). Used by
 * the first-run page (owner of a new organization) and by `anneal-server admin create-user`.
 */
export async function createUserInOrg(db: Db, input: NewUser) {
  const passwordHash = await hashPassword(input.password);
  return db.transaction(async (tx) => {
    const [existing] = await tx.select().from(users).where(eq(users.email, input.email));
    if (existing) throw new AppError('CONFLICT', `email: ${input.email} already has an account`);
    let [org] = await tx.select().from(organizations).where(eq(organizations.name, input.orgName));
    org ??= (await tx.insert(organizations).values({ name: input.orgName }).returning())[0];
    if (!org) throw new AppError('INTERNAL', 'could not create the organization');
    const [user] = await tx
      .insert(users)
      .values({ email: input.email, name: input.name ?? '', passwordHash })
      .returning();
    if (!user) throw new AppError('INTERNAL', 'could not create the user');
    await tx
      .insert(memberships)
      .values({ orgId: org.id, userId: user.id, role: input.role ?? 'owner' });
    return { user, org };
  });
}

/** The first visit's sign-up: allowed only while the database has no user at all. */
export async function createFirstOwner(db: Db, input: Omit<NewUser, 'role'>) {
  // Serialised by an advisory lock so two racing first visits cannot both become owners.
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(427001)`);
    if (await hasAnyUser(tx))
      throw new AppError('CONFLICT', 'this server already has an owner; sign in instead');
    const passwordHash = await hashPassword(input.password);
    const [org] = await tx.insert(organizations).values({ name: input.orgName }).returning();
    const [user] = await tx
      .insert(users)
      .values({ email: input.email, name: input.name ?? '', passwordHash })
      .returning();
    if (!org || !user) throw new AppError('INTERNAL', 'could not create the owner');
    await tx.insert(memberships).values({ orgId: org.id, userId: user.id, role: 'owner' });
    return { user, org };
  });
}
