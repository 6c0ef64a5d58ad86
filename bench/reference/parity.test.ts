import { describe, expect, it } from 'vitest';
import { hasVenv, missingVenvMessage, runReference, venvRequired } from './venv.ts';

// bench/reference/parity_test.py: the MLX reference U-Net against diffusers' UNet2DModel.
describe('MLX reference U-Net parity with diffusers', () => {
  it.runIf(!hasVenv && venvRequired)('has the reference venv when CI promises one', () => {
    expect.fail(missingVenvMessage);
  });

  it.runIf(hasVenv)('matches UNet2DModel to 1e-4 with identical parameter names', () => {
    const run = runReference('parity_test.py');
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.error, output).toBeUndefined();
    expect(run.status, output).toBe(0);
    expect(run.stdout).toMatch(/parity ok: \d+ configurations/);
  });
});
