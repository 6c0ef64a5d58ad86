import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasVenv, INTEROP_CASES, INTEROP_TOLERANCE, referenceDir, venvPython } from '@anneal/bench';
import { decodeSafetensors } from '@anneal/datasets/shards';
import { Model } from '@anneal/engine';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './cli.ts';

// `anneal import diffusers` on a random diffusers UNet2DModel, then the ENGINE's forward pass
// against diffusers' own output on the same inputs. Skips without bench/.venv unless CI
// promises one (CI=true, ANNEAL_BENCH_VENV=1), as bench/reference/venv.ts does.
const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_BENCH_VENV === '1';
const tmp = mkdtempSync(join(tmpdir(), 'anneal-interop-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('anneal import diffusers: engine outputs match diffusers', () => {
  it.runIf(!hasVenv() && venvRequired)('has the reference venv when CI promises one', () => {
    expect.fail(`${venvPython} is missing: run bench/setup.sh`);
  });

  // The bench smoke test covers the first case through runBench; this one goes through the CLI.
  const c = INTEROP_CASES[INTEROP_CASES.length - 1];
  it.runIf(hasVenv() && c)(
    `${c?.name}: to ${INTEROP_TOLERANCE} through the CLI and Model.load`,
    async () => {
      if (!c) return;
      const made = spawnSync(
        venvPython,
        [
          join(referenceDir, 'make_diffusers_unet.py'),
          tmp,
          JSON.stringify({ unet: c.unet, batch: c.batch }),
        ],
        { encoding: 'utf8', timeout: 110_000 },
      );
      expect(made.status, made.stderr).toBe(0);
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        ['import', 'diffusers', join(tmp, 'unet'), '--out', join(tmp, 'anneal'), '--json'],
        {
          out: (l) => out.push(l),
          err: (l) => err.push(l),
        },
      );
      expect(code, err.join('\n')).toBe(0);
      const report = JSON.parse(out[out.length - 1] ?? '');
      expect(report.parameters).toBe(JSON.parse(made.stdout.trim().split('\n').pop() ?? '').params);

      const io = decodeSafetensors(readFileSync(join(tmp, 'io.safetensors'))).tensors;
      const f32 = (name: string) =>
        new Float32Array(new Uint8Array(io.get(name)?.data ?? []).buffer);
      const y = f32('y');
      const model = Model.load(join(tmp, 'anneal'));
      try {
        const shape = io.get('x')?.shape as [number, number, number, number];
        const ours = model.native.forward(f32('x'), shape, f32('t'));
        expect(ours.length).toBe(y.length);
        let err = 0;
        for (let i = 0; i < y.length; i++)
          err = Math.max(err, Math.abs((ours[i] ?? 0) - (y[i] ?? 0)));
        expect(err).toBeLessThanOrEqual(INTEROP_TOLERANCE);
        // A discriminating check: the output is not near zero, so agreement means something.
        expect(Math.max(...y.map(Math.abs))).toBeGreaterThan(0.1);
      } finally {
        model.dispose();
      }
    },
  );
});
