// The engine's half of diffusers_agreement.py: samples a checkpoint with given noise and
// explicit sigma lists and writes the float32 images, so diffusers' schedulers can be run
// on exactly the same inputs.
//
//   npx tsx bench/reference/engine_sample.ts JOB.json
//
// JOB.json: {model, n, noise, stepNoise, out, jobs: [{id, sampler, sigmas?, steps?,
// schedule?, clipDenoised, eta?}]}. `noise` is a raw little-endian float32 file of n*H*W*C
// unit-normal values (NHWC), `stepNoise` one of maxSteps*n*H*W*C; a job of k steps uses the
// first k. Each job writes OUT/<id>.bin (float32 NHWC images in [-1, 1]); a job without
// `sigmas` uses the engine's schedule `schedule` (default "default") for `steps`. Prints one
// JSON line per job: {id, nfe, steps, nonFinite}.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Model } from '../../packages/engine/src/model.ts';

const jobSchema = z.object({
  model: z.string(),
  n: z.number().int().min(1),
  noise: z.string(),
  stepNoise: z.string(),
  out: z.string(),
  jobs: z.array(
    z.object({
      id: z.string().regex(/^[\w.-]+$/),
      sampler: z.string(),
      sigmas: z.array(z.number()).optional(),
      steps: z.number().int().min(1).optional(),
      schedule: z.enum(['default', 'uniform', 'karras', 'exponential']).optional(),
      clipDenoised: z.boolean(),
      eta: z.number().min(0).max(1).optional(),
    }),
  ),
});

function readFloats(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main(argv: string[]): Promise<number> {
  const path = argv[0];
  if (!path) {
    process.stderr.write('usage: tsx bench/reference/engine_sample.ts JOB.json\n');
    return 2;
  }
  const spec = jobSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  const noise = readFloats(spec.noise);
  const stepNoise = readFloats(spec.stepNoise);
  const perStep = noise.length;
  const model = Model.load(spec.model);
  try {
    for (const job of spec.jobs) {
      const steps = job.sigmas ? job.sigmas.length - 1 : (job.steps ?? 20);
      if (steps * perStep > stepNoise.length) {
        throw new Error(
          `job ${job.id}: ${steps} steps need more step noise than ${spec.stepNoise} holds`,
        );
      }
      const r = await model.sample({
        sampler: job.sampler as 'ddim',
        steps,
        n: spec.n,
        seed: 0,
        eta: job.eta ?? 0,
        schedule: job.schedule ?? 'default',
        sigmas: job.sigmas,
        clipDenoised: job.clipDenoised,
        noise,
        stepNoise: stepNoise.subarray(0, steps * perStep),
        returnValues: true,
      });
      const values = r.values ?? new Float32Array();
      writeFileSync(
        join(spec.out, `${job.id}.bin`),
        new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
      );
      process.stdout.write(
        `${JSON.stringify({ id: job.id, nfe: r.nfe, steps: r.steps, nonFinite: r.nonFinite })}\n`,
      );
    }
  } finally {
    model.dispose();
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
