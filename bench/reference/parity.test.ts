import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Runs bench/reference/parity_test.py (MLX reference U-Net vs diffusers' UNet2DModel) in the
// reference venv that bench/setup.sh creates. Without the venv the test skips, except in CI
// that promises one (CI=true and ANNEAL_BENCH_VENV=1), where a missing venv is a failure.
const here = dirname(fileURLToPath(import.meta.url));
const benchDir = resolve(here, '..');
const python = join(benchDir, '.venv', 'bin', 'python');
const hasVenv = existsSync(python);
const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_BENCH_VENV === '1';

describe('MLX reference U-Net parity with diffusers', () => {
  it.runIf(!hasVenv && venvRequired)('has the reference venv when CI promises one', () => {
    expect.fail(`${python} is missing: run bench/setup.sh (CI=true and ANNEAL_BENCH_VENV=1)`);
  });

  it.runIf(hasVenv)('matches UNet2DModel to 1e-4 with identical parameter names', () => {
    const run = spawnSync(python, [join(here, 'parity_test.py')], {
      encoding: 'utf8',
      timeout: 110_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.error, output).toBeUndefined();
    expect(run.status, output).toBe(0);
    expect(run.stdout).toMatch(/parity ok: \d+ configurations/);
  });
});
