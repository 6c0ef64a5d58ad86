import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { encodePng, tileGrid } from '@anneal/core/png';
import {
  applyMemoryLimits,
  Model,
  type Plan,
  planSchema,
  probeHardware,
  resolveMemoryBudget,
  samplerSchema,
} from '@anneal/engine';
import { planClash, replicaRequestSchema } from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags } from '../args.ts';
import { profileKey } from '../plan/costs.ts';
import { planSampling } from '../plan/execute.ts';
import { weightsMismatch, weightsSha256 } from '../plan/weights.ts';
import type { Command } from './command.ts';
import { samplingOf } from './sample.ts';

const usage = `Usage: anneal serve --model DIR --out DIR [options]

Keeps a model loaded and generates on request: one JSON request per stdin line
({"id", "n", "seed", "class"?, "sampler"?, "steps"?, "guidance"?, "eta"?, "plan"?}), one
JSON answer per stdout line. Each image is written to --out as <id>-<i>.png. The first
line out is {"type":"ready"} once the model is loaded; stdin closing ends the process.
The agent runs it for each deployment replica it hosts.

Options:
  --model DIR      checkpoint folder (config.json + model.safetensors)
  --out DIR        where the PNGs go
  --sampler S      default sampler of requests that name none
  --steps N        default steps
  --guidance W     default classifier-free guidance weight
  --eta X          default DDIM eta
  --plans FILE     the version's saved plans by hardware profile (JSON, as the registry
                   keeps them): a request with "plan": true samples as this machine's says
  -h, --help       show this help`;

const flagsSchema = z.object({
  model: z.string({ error: 'is required' }).min(1),
  out: z.string({ error: 'is required' }).min(1),
  sampler: samplerSchema.optional(),
  steps: z.coerce.number().int().min(1).max(1000).optional(),
  guidance: z.coerce.number().min(0).max(50).optional(),
  eta: z.coerce.number().min(0).max(1).optional(),
  plans: z.string().min(1).optional(),
});

/** Answers on stdout, read by the agent's replica host (daemon/replicas.ts). */
export type ServeLine =
  | { type: 'ready'; load_ms: number; resolution: number; classes: number }
  | {
      type: 'generated';
      id: string;
      files: string[];
      /** The images tiled as one PNG, when there are several. */
      grid?: string;
      nfe: number;
      steps: number;
      sampler: string;
      ms: number;
    }
  | { type: 'failed'; id: string | null; error: string };

/** The request id when a line is at least JSON with one, so a refusal can name its request. */
function idOf(line: string): string | null {
  try {
    const id = (JSON.parse(line) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

const requestLine = replicaRequestSchema.extend({ id: z.uuid() });

/**
 * This machine's plan among the version's saved ones (keyed by hardware profile), or why a
 * request for the plan is refused: none saved for this machine, or one of other weights.
 */
function machinePlan(dir: string, file: string | undefined): { plan?: Plan; refusal?: string } {
  const here = profileKey(probeHardware());
  const rerun =
    'choose one on this machine with a plan job (`anneal submit plan --model-version ...`)';
  if (!file) return { refusal: `this replica was given no saved plans; ${rerun}` };
  let plans: Record<string, unknown>;
  try {
    plans = z.record(z.string(), z.unknown()).parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    return { refusal: `--plans ${file}: not a JSON object of plans (${(err as Error).message})` };
  }
  const saved = plans[here];
  if (saved === undefined)
    return {
      refusal: `no saved plan for this machine (profile ${here}; the version has plans for ${Object.keys(plans).join(', ') || 'none'}); ${rerun}`,
    };
  const plan = planSchema.safeParse(saved);
  if (!plan.success)
    return {
      refusal: `the saved plan for ${here} does not parse: ${plan.error.issues[0]?.message}`,
    };
  const stale = weightsMismatch(`the plan for ${here}`, plan.data.weights, weightsSha256(dir));
  return stale ? { refusal: `${stale}; ${rerun}` } : { plan: plan.data };
}

export const serve: Command = {
  name: 'serve',
  summary: 'keep a model loaded and generate images per request (a deployment replica)',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        out: { type: 'string' },
        sampler: { type: 'string' },
        steps: { type: 'string' },
        guidance: { type: 'string' },
        eta: { type: 'string' },
        plans: { type: 'string' },
        events: { type: 'boolean' },
      },
      flagsSchema.extend({ events: z.boolean().default(false) }),
    );
    const started = Date.now();
    const out = resolve(flags.out);
    mkdirSync(out, { recursive: true });
    const model = Model.load(resolve(flags.model));
    const plan = machinePlan(resolve(flags.model), flags.plans);
    const budget = resolveMemoryBudget();
    applyMemoryLimits(budget);
    const say = (line: ServeLine) => io.out(JSON.stringify(line));
    say({
      type: 'ready',
      load_ms: Date.now() - started,
      resolution: model.config.unet.sample_size,
      classes: model.config.dataset?.num_classes ?? 0,
    });
    const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      // One request at a time, in arrival order: the replica is one model on one device.
      for await (const line of lines) {
        if (!line.trim()) continue;
        const t0 = performance.now();
        let parsed: z.infer<typeof requestLine>;
        try {
          parsed = requestLine.parse(JSON.parse(line));
        } catch (err) {
          const reason =
            err instanceof z.ZodError
              ? `${err.issues[0]?.path.join('.') || 'request'}: ${err.issues[0]?.message}`
              : 'not JSON';
          say({ type: 'failed', id: idOf(line), error: `bad request: ${reason}` });
          continue;
        }
        try {
          const clash = planClash(parsed);
          if (clash) throw new Error(clash);
          if (parsed.plan && plan.refusal) throw new Error(plan.refusal);
          const sampling =
            parsed.plan && plan.plan
              ? planSampling(plan.plan)
              : samplingOf(model.config, {
                  sampler: parsed.sampler ?? flags.sampler,
                  steps: parsed.steps ?? flags.steps,
                });
          const r = await model.sample({
            ...sampling,
            n: parsed.n,
            seed: parsed.seed,
            class: parsed.class,
            guidance:
              parsed.guidance ?? ('guidance' in sampling ? sampling.guidance : flags.guidance),
            eta: parsed.eta ?? flags.eta,
            budget,
          });
          const [n, h, w, c] = r.shape;
          const files: string[] = [];
          for (let i = 0; i < n; i++) {
            const file = join(out, `${parsed.id}-${i}.png`);
            const px = r.images.subarray(i * h * w * c, (i + 1) * h * w * c);
            writeFileSync(file, encodePng(px, w, h, c as 1 | 3 | 4));
            files.push(file);
          }
          let grid: string | undefined;
          if (n > 1) {
            const g = tileGrid(r.images, r.shape);
            grid = join(out, `${parsed.id}-grid.png`);
            writeFileSync(grid, encodePng(g.pixels, g.width, g.height, g.channels as 1 | 3 | 4));
          }
          say({
            type: 'generated',
            id: parsed.id,
            files,
            ...(grid ? { grid } : {}),
            nfe: r.nfe,
            steps: r.steps,
            sampler: sampling.sampler,
            ms: performance.now() - t0,
          });
        } catch (err) {
          say({ type: 'failed', id: parsed.id, error: (err as Error).message });
        }
      }
    } finally {
      model.dispose();
    }
    return 0;
  },
};
