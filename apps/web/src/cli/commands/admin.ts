import { AppError } from '@anneal/core';
import { createDb } from '@anneal/db/client';
import { memberships, ROLES, users } from '@anneal/db/schema';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { emailSchema, orgNameSchema, passwordSchema } from '../../server/domain/accounts/email.ts';
import { createUserInOrg } from '../../server/domain/accounts/setup.ts';
import { createToken, tokenKindSchema } from '../../server/domain/accounts/tokens.ts';
import { type Command, type CommandIO, parseFlags, UsageError } from '../command.ts';
import { openMigratedDatabase } from '../database.ts';

const createUserUsage = `Usage: anneal-server admin create-user --email E --org NAME --password-stdin [--role R] [--name N]

Creates a user in the organization NAME (created when missing). Reads the password from
standard input, so it never appears in the process list or shell history.

Options:
  --email E          the user's email (sign-in name)
  --org NAME         organization name
  --password-stdin   read the password from standard input (required)
  --role R           owner | editor | viewer (default: owner)
  --name N           display name`;

const createTokenUsage = `Usage: anneal-server admin create-token --email E --kind api|agent [--name N] [--json]

Creates an API token (scripts, CI, Airflow) or an agent token (a Mac running \`anneal agent\`)
for the user E in their first organization. The token is printed once; only its hash is kept.

Options:
  --email E       the token's owner
  --kind K        api | agent
  --name N        a label shown in settings (default: "<kind> token")
  --json          print {"token": ..., "id": ..., "kind": ...} instead of the bare token`;

const usage = `Usage: anneal-server admin <create-user|create-token> [options]

Headless administration against the database \`start\` uses.

${createUserUsage}

${createTokenUsage}`;

async function withDb<T>(fn: (db: ReturnType<typeof createDb>['db']) => Promise<T>): Promise<T> {
  const database = await openMigratedDatabase();
  const handle = createDb(database.url, { max: 2 });
  try {
    return await fn(handle.db);
  } finally {
    await handle.close();
    await database.stop();
  }
}

async function createUser(argv: string[], io: CommandIO) {
  const flags = parseFlags(
    argv,
    {
      email: { type: 'string' },
      org: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      role: { type: 'string' },
      name: { type: 'string' },
    },
    z.object({
      email: emailSchema,
      org: orgNameSchema,
      'password-stdin': z.literal(true, { message: 'is required (pipe the password in)' }),
      role: z.enum(ROLES).default('owner'),
      name: z.string().optional(),
    }),
  );
  const password = (await io.readStdin()).replace(/\r?\n$/, '');
  const checked = passwordSchema.safeParse(password);
  if (!checked.success) throw new UsageError(`password: ${checked.error.issues[0]?.message}`);
  const { user, org } = await withDb((db) =>
    createUserInOrg(db, {
      email: flags.email,
      orgName: flags.org,
      password,
      role: flags.role,
      name: flags.name,
    }),
  );
  io.out(`created ${user.email} (${flags.role}) in organization "${org.name}"`);
  return 0;
}

async function createTokenCommand(argv: string[], io: CommandIO) {
  const flags = parseFlags(
    argv,
    {
      email: { type: 'string' },
      kind: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean' },
    },
    z.object({
      email: emailSchema,
      kind: tokenKindSchema,
      name: z.string().min(1).optional(),
      json: z.boolean().optional(),
    }),
  );
  const token = await withDb(async (db) => {
    const [member] = await db
      .select({ userId: users.id, orgId: memberships.orgId })
      .from(users)
      .innerJoin(memberships, eq(memberships.userId, users.id))
      .where(eq(users.email, flags.email))
      .orderBy(asc(memberships.createdAt))
      .limit(1);
    if (!member) throw new AppError('NOT_FOUND', `--email: no user ${flags.email}`);
    return createToken(db, member, flags.kind, flags.name ?? `${flags.kind} token`);
  });
  io.out(
    flags.json
      ? JSON.stringify({ token: token.token, id: token.id, kind: token.kind, name: token.name })
      : token.token,
  );
  return 0;
}

export const admin: Command = {
  name: 'admin',
  summary: 'create users and tokens without the browser',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const help = rest.includes('--help') || rest.includes('-h');
    if (sub === 'create-user') {
      if (help) return (io.out(createUserUsage), 0);
      return createUser(rest, io);
    }
    if (sub === 'create-token') {
      if (help) return (io.out(createTokenUsage), 0);
      return createTokenCommand(rest, io);
    }
    throw new UsageError(sub ? `unknown admin command "${sub}"` : 'name an admin command');
  },
};
