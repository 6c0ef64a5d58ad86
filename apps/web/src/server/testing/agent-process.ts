// The real `anneal` CLI and agent as child processes of a test, against a test server: the
// gateway tests queue jobs with `anneal submit` and run them on an `anneal agent`.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import type { Harness } from './harness.ts';

export const ANNEAL_BIN = join(repoRoot, 'apps/agent/bin/anneal.js');

/** A running agent with its stderr kept (tests print it when a job goes wrong). */
export interface AgentProcess {
  child: ChildProcess;
  log: string[];
  /** SIGTERM, then waits for the exit (a no-op once it has exited). */
  stop(): Promise<void>;
}

/**
 * Starts `anneal agent` with ANNEAL_HOME = `home`; `detached` puts it in a process group of
 * its own, so a test can kill it together with its job's child (`process.kill(-pid)`).
 */
export function startAgent(o: {
  server: string;
  token: string;
  name: string;
  home: string;
  detached?: boolean;
  log?: string[];
  /** More environment (e.g. one BLAS thread each for agents sharing the machine). */
  env?: Record<string, string>;
}): AgentProcess {
  const log = o.log ?? [];
  const child = spawn(
    process.execPath,
    [ANNEAL_BIN, 'agent', '--server', o.server, '--token', o.token, '--name', o.name],
    {
      env: { ...process.env, ANNEAL_HOME: o.home, ...o.env },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: o.detached ?? false,
    },
  );
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  return {
    child,
    log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The last stdout line of `anneal submit --json`. */
export interface SubmitLine {
  job_id: string;
  run_id: string;
  status: string;
}

/**
 * Runs the CLI as `token` against `server` (no config file); `json` is the last stdout line
 * parsed ({} when it is not JSON), `stderr` has `extraLog` (the agent's) appended.
 */
export function runCli(
  args: string[],
  o: {
    server: string;
    token: string;
    home: string;
    extraLog?: string[];
    /** More environment for the child (e.g. its own ANNEAL_HOME). */
    env?: Record<string, string>;
  },
) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; json: SubmitLine }>(
    (resolve) => {
      const child = spawn(process.execPath, [ANNEAL_BIN, ...args], {
        env: {
          ...process.env,
          ANNEAL_SERVER: o.server,
          ANNEAL_TOKEN: o.token,
          ANNEAL_CONFIG: join(o.home, 'none.json'),
          ...o.env,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('exit', (code) => {
        let json = {} as SubmitLine;
        try {
          json = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
        } catch {}
        resolve({ code, stdout, stderr: stderr + (o.extraLog ?? []).join(''), json });
      });
    },
  );
}

/**
 * Trains the tiny shapes model as a train job on the test's agent (`anneal submit train
 * --wait`), which registers it, and returns the project, run and model version ids: the
 * version the distill, evaluate and plan job tests start from.
 */
export async function registeredTinyModel(o: {
  cli: (args: string[]) => ReturnType<typeof runCli>;
  /** The harness's api as the owner: (method, path) -> {status, json}. */
  api: (method: string, path: string) => ReturnType<Harness['api']>;
  project: string;
  resolution: number;
  steps: number;
  extra?: string[];
}): Promise<{ projectId: string; runId: string; versionId: string }> {
  const trained = await o.cli([
    ...['submit', 'train', '--project', o.project, '--dataset', 'shapes'],
    ...['--resolution', String(o.resolution), '--preset', 'tiny', '--steps', String(o.steps)],
    ...['--batch', '8', ...(o.extra ?? []), '--wait', '--json'],
  ]);
  if (trained.code !== 0) throw new Error(`the teacher's train job failed: ${trained.stderr}`);
  const run = await o.api('GET', `/api/v1/runs/${trained.json.run_id}`);
  const projectId = run.json.projectId as string;
  const name = `shapes-tiny-${o.resolution}`;
  const model = await o.api('GET', `/api/v1/projects/${projectId}/models/${name}`);
  if (model.status !== 200) throw new Error(`no registered ${name}: ${JSON.stringify(model.json)}`);
  return { projectId, runId: trained.json.run_id, versionId: model.json.versions[0].id };
}
