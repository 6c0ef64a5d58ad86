import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

const bin = fileURLToPath(new URL('../../apps/web/bin/anneal-server.js', import.meta.url));

export interface TestServer {
  url: string;
  home: string;
  /** SQL against the server's own embedded PostgreSQL, to check what UI actions wrote. */
  sql: postgres.Sql;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** `anneal-server start` as a user runs it, in a fresh ANNEAL_HOME on a random port. */
export async function startServer(options: { localAgent?: boolean } = {}): Promise<TestServer> {
  const home = await mkdtemp(join(tmpdir(), 'anneal-e2e-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ANNEAL_HOME: home, PORT: String(port) };
  // Without the local agent, seeded jobs stay as seeded (queued, or failed).
  if (options.localAgent === false) env.ANNEAL_LOCAL_AGENT = '0';
  delete env.DATABASE_URL;
  const child: ChildProcess = spawn(process.execPath, [bin, 'start'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('anneal-server: serving')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  const { url } = JSON.parse(await readFile(join(home, 'postgres', 'connection.json'), 'utf8')) as {
    url: string;
  };
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  return {
    url: `http://localhost:${port}`,
    home,
    sql,
    async stop() {
      await sql.end({ timeout: 2 });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      // A clean shutdown takes back the URL it gave the local CLI.
      const left = existsSync(join(home, 'server.json'));
      await rm(home, { recursive: true, force: true });
      if (left) throw new Error('anneal-server start left ANNEAL_HOME/server.json after SIGTERM');
    },
  };
}
