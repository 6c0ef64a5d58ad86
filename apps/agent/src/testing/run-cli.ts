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
