import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The reference venv that bench/setup.sh creates. Tests that need it skip without it, except
// in CI that promises one (CI=true and ANNEAL_BENCH_VENV=1), where its absence is a failure.
export const referenceDir = dirname(fileURLToPath(import.meta.url));
export const python = join(resolve(referenceDir, '..'), '.venv', 'bin', 'python');
export const hasVenv = existsSync(python);
export const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_BENCH_VENV === '1';
export const missingVenvMessage = `${python} is missing: run bench/setup.sh (CI=true and ANNEAL_BENCH_VENV=1 require it)`;

/** Runs a script of bench/reference with the venv's Python; sync, never throws. */
export function runReference(script: string, args: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(python, [join(referenceDir, script), ...args], {
    encoding: 'utf8',
    timeout: 110_000,
  });
}
