import { join, resolve } from 'node:path';
import { BENCHMARKS, type BenchmarkName, runBench } from '@anneal/bench';
import { z } from 'zod';
import { parseFlags } from '../args.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal bench [--quick|--smoke] [--only NAME[,NAME]] [--model DIR] [--threads N]
                    [--results DIR] [--json]

Runs Anneal's benchmarks (DESIGN.md section 8) and writes bench/results/<name>.json and
bench/RESULTS.md:
  training  images/s, step ms and peak memory of the engine vs the same U-Net in MLX Python
            vs diffusers' UNet2DModel on PyTorch, presets tiny and small, batch 32
  interop   a random diffusers UNet2DModel through \`anneal import diffusers\` and the engine
  sampling  images/s and NFE per image for each sampler at fixed steps
  ceiling   matmul GFLOP/s, the training step's share of it, and where the step's time goes
Needs the reference environment (bench/setup.sh) for all but sampling.

Options:
  --quick          fewer rounds and steps (minutes); results go to bench/results/quick/
  --smoke          toy sizes (seconds): shows the harness works, the numbers mean nothing;
                   results go to bench/results/smoke/
  --results DIR    write the result files and RESULTS.md to DIR instead
  --only NAMES     comma-separated: ${BENCHMARKS.join(', ')}
  --model DIR      sampling: a checkpoint instead of a tiny model trained on the spot
  --threads N      BLAS/OpenMP threads per contender (default 1: fair on a shared machine)
  --json           print one JSON object (the last stdout line)
  -h, --help       show this help`;

const flagsSchema = z
  .object({
    quick: z.boolean().default(false),
    smoke: z.boolean().default(false),
    results: z.string().min(1).optional(),
    json: z.boolean().default(false),
    only: z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (s === undefined) return undefined;
        const names = s.split(',').map((x) => x.trim());
        for (const n of names) {
          if (!(BENCHMARKS as readonly string[]).includes(n)) {
            ctx.addIssue({
              code: 'custom',
              message: `unknown benchmark "${n}"; one of ${BENCHMARKS.join(', ')}`,
            });
            return z.NEVER;
          }
        }
        return names as BenchmarkName[];
      }),
    model: z.string().optional(),
    threads: z.coerce.number().int().min(1).max(256).default(1),
  })
  .refine((f) => !(f.quick && f.smoke), {
    message: 'pick one of --quick and --smoke',
    path: ['smoke'],
  });

export const bench: Command = {
  name: 'bench',
  summary: 'benchmark training, sampling and interop against MLX Python and diffusers',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        quick: { type: 'boolean' },
        smoke: { type: 'boolean' },
        results: { type: 'string' },
        json: { type: 'boolean' },
        only: { type: 'string' },
        model: { type: 'string' },
        threads: { type: 'string' },
      },
      flagsSchema,
    );
    const run = await runBench({
      scale: flags.smoke ? 'smoke' : flags.quick ? 'quick' : 'full',
      ...(flags.results
        ? {
            resultsDir: resolve(flags.results),
            markdownPath: join(resolve(flags.results), 'RESULTS.md'),
          }
        : {}),
      only: flags.only,
      threads: flags.threads,
      model: flags.model,
      log: (line) => io.err(line),
    });
    if (flags.json) {
      io.out(
        JSON.stringify({
          results: Object.fromEntries(
            run.files.map((f) => [f.name, { path: f.path, ...f.result }]),
          ),
        }),
      );
      return 0;
    }
    for (const f of run.files) io.out(`wrote ${f.path}`);
    if (run.markdown) io.out(`\n${run.markdown}`);
    return 0;
  },
};
