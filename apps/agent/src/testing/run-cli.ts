import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';

/**
 * Runs the real `anneal` bin in a child process with ANNEAL_HOME set, and parses the last
 * stdout line as JSON when it is (the --json contract). For tests.
 */
export function runAnneal(args: string[], home: string) {
  const r = spawnSync(process.execPath, [join(repoRoot, 'apps/agent/bin/anneal.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ANNEAL_HOME: home },
  });
  const lines = r.stdout.trim().split('\n');
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(lines[lines.length - 1] ?? '');
  } catch {
    json = null;
  }
  return { ...r, json };
}

/**
 * Runs the CLI's `main` in this process, as the bin would with ANNEAL_HOME set: for the
 * refusal tests, where a child process would cost a second of start-up to print one line.
 * What the bin itself does (argv, exit code) stays covered by the tests that use runAnneal.
 */
export async function runAnnealHere(args: string[], home: string) {
  const { main } = await import('../cli.ts');
  const out: string[] = [];
  const err: string[] = [];
  const before = process.env.ANNEAL_HOME;
  process.env.ANNEAL_HOME = home;
  try {
    const status = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { status, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    if (before === undefined) delete process.env.ANNEAL_HOME;
    else process.env.ANNEAL_HOME = before;
  }
}

/** The flags of the tiny 8x8 shapes model the command tests train in seconds. */
export const TINY_SHAPES = [
  ...['--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny', '--batch', '8'],
] as const;

/**
 * Trains the tiny shapes model for a few steps into `out`, failing the caller's setup with
 * anneal's stderr: for commands that need a checkpoint, not a good one.
 */
export function trainTinyModel(out: string, home: string, steps = 4) {
  const r = runAnneal(
    ['train', ...TINY_SHAPES, '--steps', String(steps), '--out', out, '--json'],
    home,
  );
  if (r.status !== 0) throw new Error(`anneal train exited ${r.status}: ${r.stderr}`);
  return r;
}
