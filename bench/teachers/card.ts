// Writes a reference teacher's model card (models/<name>/README.md) from measurements, never
// from numbers typed in: the training command and stages come from training.json and
// metrics.jsonl, the quality from `anneal eval` runs made here (kept as JSON under eval/), the
// samples from `anneal sample`. Issue 11 asks each card for the exact command, wall time,
// machine, backend, eval JSON and a sample grid.
//
//   npx tsx bench/teachers/card.ts --model models/mnist-v-small --title "the MNIST reference teacher"
//     [--sampler dpmpp-2m --steps 20] [--guidance 2] [--n 1000] [--reuse]
//
// --reuse keeps eval JSON already under DIR/eval/ (a card rewritten after editing prose).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    title: { type: 'string', default: 'a reference teacher' },
    sampler: { type: 'string', default: 'dpmpp-2m' },
    steps: { type: 'string', default: '20' },
    guidance: { type: 'string', default: '2' },
    n: { type: 'string', default: '1000' },
    reuse: { type: 'boolean', default: false },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const repo = resolve(import.meta.dirname, '..', '..');
const dir = resolve(values.model);
const rel = relative(repo, dir);
const name = rel.split('/').at(-1) ?? rel;

function anneal(args: string[]): string {
  const r = spawnSync('npx', ['anneal', ...args], {
    cwd: repo,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`anneal ${args.join(' ')} exited ${r.status}`);
  return r.stdout;
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1) as string);

/** Runs `anneal eval` once per setting and keeps its JSON, so the card cites a file. */
function evalOnce(file: string, args: string[]) {
  const path = join(dir, 'eval', file);
  if (values.reuse && existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
  console.error(`card: anneal eval ${args.join(' ')}`);
  const json = {
    command: `npx anneal eval ${args.join(' ')}`,
    ...lastJson(anneal(['eval', ...args])),
  };
  mkdirSync(join(dir, 'eval'), { recursive: true });
  writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
  return json;
}

/** Where the ruler came from and which weights it is (older eval JSON has neither). */
function extractorOrigin(e: { extractor_source?: string; extractor_sha256?: string }): string {
  if (!e.extractor_sha256) return '';
  const where =
    e.extractor_source === 'shipped'
      ? 'shipped in models/extractors'
      : e.extractor_source === 'cache'
        ? "from ANNEAL_HOME's cache"
        : 'trained for this card';
  return `, ${where}, weights sha256 ${e.extractor_sha256.slice(0, 12)}`;
}

const training = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'));
const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));

// Stages: stages.jsonl (one line per `anneal train` sitting, with its machine) when present;
// else metrics.jsonl, whose wall_s counts from each (re)start, so a drop marks a resume.
interface Line {
  step: number;
  wall_s: number;
  images_per_s: number;
}
interface Stage {
  from: number;
  to: number;
  wall: number;
  ips: number[];
  machine: string;
  /** The --steps the stage ran with: the cosine schedule's length at the time. */
  total: number | null;
}
const lines: Line[] = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l))
  .filter((l) => typeof l.wall_s === 'number');
const ipsBetween = (from: number, to: number) =>
  lines.filter((l) => l.step > from && l.step <= to).map((l) => l.images_per_s);
const describe = (m: Record<string, unknown> | undefined) =>
  m
    ? `${m.chip ?? 'unrecorded chip'}, ${m.cores} cores, MLX ${m.mlx ?? ''} ${m.backend}${m.blas ? ` (${m.blas})` : ''}`
    : 'not recorded';
let stages: Stage[];
const stagesPath = join(dir, 'stages.jsonl');
if (existsSync(stagesPath)) {
  stages = readFileSync(stagesPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .map((s) => ({
      from: s.from_step,
      to: s.to_step,
      wall: s.wall_s,
      ips: ipsBetween(s.from_step, s.to_step),
      machine: describe(s.machine),
      total: s.total_steps ?? null,
    }));
} else {
  stages = [];
  let prev: Line | null = null;
  for (const l of lines) {
    const last = stages.at(-1);
    if (!last || (prev && l.wall_s < prev.wall_s)) {
      stages.push({
        from: prev?.step ?? 0,
        to: l.step,
        wall: l.wall_s,
        ips: [],
        machine: 'not recorded',
      });
    } else {
      last.to = l.step;
      last.wall = l.wall_s;
    }
    prev = l;
  }
  for (const s of stages) s.ips = ipsBetween(s.from, s.to);
}
const totalWall = stages.reduce((a, s) => a + s.wall, 0);
const step = lines.at(-1)?.step ?? 0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const doctor = lastJson(anneal(['doctor', '--json', '--no-checks']));
const n = values.n as string;
const headlineArgs = [
  '--model',
  rel,
  '--n',
  n,
  '--sampler',
  values.sampler as string,
  '--steps',
  values.steps as string,
  // FD's class-stratified bootstrap spread: what "reproduces the card's FD" is read against.
  '--spread',
  '50',
];
const headline = evalOnce('headline.json', [...headlineArgs, '--memorization', '--json']);
const guided = evalOnce('guided.json', [
  ...headlineArgs,
  '--guidance',
  values.guidance as string,
  '--json',
]);
console.error('card: anneal sample');
anneal([
  'sample',
  '--model',
  rel,
  '--sampler',
  values.sampler as string,
  '--steps',
  values.steps as string,
  '--n',
  '64',
  '--out',
  `${rel}/samples.png`,
]);

const f = (x: number | null | undefined, d = 3) =>
  x === null || x === undefined ? '-' : x.toFixed(d);
/** FD's bootstrap spread as `anneal eval` reports it (absent in eval JSON from before it). */
type Spread = { std: number; low: number; high: number; resamples: number } | undefined;
const fdCell = (fd: number, spread: Spread) => (spread ? `${f(fd)} ± ${f(spread.std)}` : f(fd));
const row = (label: string, e: Record<string, number | null | undefined>, spread?: Spread) =>
  `| ${label} | ${fdCell(e.fd as number, spread)} | ${f(e.kid, 5)} | ${f(e.precision)} | ${f(e.recall)} | ${f(e.accuracy)} |`;
const spreadNote = (s: Spread) =>
  s
    ? ` ± is FD's spread from sampling alone, the standard deviation over ${s.resamples} bootstrap resamples of the samples and held-out images (90% interval ${f(s.low)}-${f(s.high)} for the headline): a rerun of \`anneal eval\` with the same seed gives the same FD up to floating-point rounding, and one with another seed should land within it.`
    : '';
const mem = headline.memorization;
/** The set test (absent from evaluations older than it). */
const setSentence = (p: typeof mem.sets) =>
  !p
    ? 'This evaluation predates the set test; the whole-dataset test decides.'
    : `The set test takes the samples as queries on both sides: their mean distance to the nearest image of each of ${p.heldoutSets} held-out and ${p.trainSets} training sets of ${p.size.toLocaleString('en-US')} images, ${f(p.toHeldout, 4)} against ${f(p.toTrain, 4)}, two-sample t = ${f(p.t, 2)} over the set means (${p.dof} dof, one-sided p = ${f(p.p, 4)}); smoother-than-data samples land nearer every real image, which this test takes out.`;
/** The copy test (absent from evaluations older than it). */
const copySentence = (c: typeof mem.copies) =>
  !c
    ? ''
    : ` The copy test looks for a few copies, which the set test cannot see: each query's distance to its nearest training image over the mean distance to its next ${c.neighbours} (0 is an exact copy; a ratio like the one Carlini et al. 2023 extract training images by), min / p1 / p5 / median: samples ${q(c.samples)}, held-out images ${q(c.heldout)}. ${c.count} of ${headline.n} samples lie below every held-out image (${f(c.expected, 2)} expected without copies; one-sided p = ${f(c.p, 4)}, the chance that the ${c.count} smallest ratios would all be samples if samples placed like held-out images)${c.blind ? '; a held-out image duplicates a training image, so this test cannot see copies on this data' : ''}.`;
const q = (s: Record<string, number>) =>
  `${f(s.min, 4)} / ${f(s.p1, 4)} / ${f(s.p5, 4)} / ${f(s.median, 4)}`;
const flags = [
  typeof training.dataset === 'string'
    ? `--dataset ${training.dataset}`
    : `--dataset-ref '${JSON.stringify(training.dataset)}'`,
  `--resolution ${training.resolution}`,
  `--preset ${training.preset}`,
  `--parameterization ${training.parameterization}`,
  `--steps ${training.steps}`,
  `--ema-decay ${training.ema_decay}`,
  `--checkpoint-every ${training.checkpoint_every}`,
  `--out ${rel}`,
];

const card = `# ${name}: ${values.title}

A class-conditional \`${training.preset}\` U-Net (${config.parameterization} prediction) on ${
  typeof training.dataset === 'string' ? training.dataset : training.dataset.name
} at ${training.resolution}x${training.resolution}, trained with \`anneal train\` to step ${step.toLocaleString('en-US')} of ${training.steps.toLocaleString('en-US')}. \`model.safetensors\` holds the EMA weights, \`trainer-state.safetensors\` (when present) what exact resume needs, \`metrics.jsonl\` every ${training.log_every}th step, \`eval/\` the JSON of every number below. This card is written by \`npx tsx bench/teachers/card.ts --model ${rel}\` from those files and fresh \`anneal eval\` runs.

## How it was trained

    npx anneal train ${flags.join(' \\\n      ')}

(a stage after the first adds \`--resume\`). Settings as recorded in training.json: batch ${training.batch}, lr ${training.lr} (${training.lr_schedule}${training.lr_schedule === 'cosine' ? ` to ${training.min_lr}` : ''}), warmup ${training.warmup ?? 'default'}, loss weighting ${training.loss_weighting}, CFG dropout ${training.cfg_dropout}, grad clip ${training.grad_clip}, seed ${training.seed}, ${training.dtype}.

| stage | steps | of --steps | wall s | images/s (median) | machine |
| --- | --- | --- | --- | --- | --- |
${stages.map((s, i) => `| ${i + 1} | ${s.from.toLocaleString('en-US')} -> ${s.to.toLocaleString('en-US')} | ${s.total?.toLocaleString('en-US') ?? '-'} | ${s.wall.toFixed(0)} | ${median(s.ips).toFixed(1)} | ${s.machine} |`).join('\n')}

Total: ${(totalWall / 3600).toFixed(2)} h of training wall time. Images/s is what training got while the machine may have been shared with other work: a floor, not this model's speed (bench/RESULTS.md measures that). Evaluated on ${doctor.chip.name} (${doctor.cores.logical} logical cores, ${(doctor.memory.total_bytes / 2 ** 30).toFixed(0)} GiB), ${process.platform} ${process.arch}, MLX ${doctor.mlx_version} on its ${doctor.backend} backend${doctor.blas ? ` (BLAS: ${doctor.blas})` : ''}.

## Quality (held-out images, n = ${headline.n}; floor = two disjoint real sets of the same n, drawn ${headline.real_sets ?? 'random'})

| setting | FD | KID | precision | recall | class accuracy |
| --- | --- | --- | --- | --- | --- |
${row(`${headline.sampler}, ${headline.steps} steps (${headline.nfe} NFE), no guidance`, headline, headline.fd_spread)}
${row(`${guided.sampler}, ${guided.steps} steps, guidance ${values.guidance}`, guided, guided.fd_spread)}
${row('real vs real (floor)', { fd: headline.floor_fd, kid: headline.floor_kid, precision: headline.floor_precision, recall: headline.floor_recall, accuracy: headline.floor_accuracy }, headline.floor_fd_spread)}

FD ${f(headline.fd)} is ${(headline.fd / headline.floor_fd).toFixed(2)}x the floor.${spreadNote(headline.fd_spread)} Extractor ${headline.extractor} (${headline.extractor_kind}, held-out accuracy ${f(headline.extractor_accuracy)}${extractorOrigin(headline)}). Reproduce: \`${headline.command}\` (eval/headline.json) and \`${guided.command}\` (eval/guided.json).

## Memorization

Nearest-neighbour RMS pixel distance (pixels in [0, 1]) to the ${mem.train.toLocaleString('en-US')} training images, min / p1 / p5 / median: samples ${q(mem.samples)}, held-out images ${q(mem.heldout)}. ${mem.samplesBelowHeldoutMin} of ${headline.n} samples lie nearer to a training image than any held-out image does. One-sided rank test over the whole dataset: z = ${f(mem.z, 2)} (positive: samples closer). ${setSentence(mem.sets)}${copySentence(mem.copies)} Verdict: ${mem.memorized ? (mem.copies ? '**memorization** (a test below p = 0.005)' : '**samples land nearer the training images than unseen ones: memorization**') : mem.copies ? 'no sign of memorization (both tests above p = 0.005: the set test sees copies once they are about a tenth of the samples, the copy test a handful)' : 'no sign that samples land nearer the training images than unseen ones (the set test sees copies once they are about a tenth of the samples; fewer show as samples nearer than any held-out image)'}.

## Samples

![64 samples](samples.png)

\`npx anneal sample --model ${rel} --sampler ${values.sampler} --steps ${values.steps} --n 64 --out samples.png\` (seed 0, classes cycle 0..${(config.dataset?.num_classes ?? 10) - 1} along the rows, no guidance).
`;
// notes.md: what the files cannot say (a plan changed mid-run, a sitting lost its tail), kept
// by hand and appended as written.
const notesPath = join(dir, 'notes.md');
const notes = existsSync(notesPath) ? `\n## History\n\n${readFileSync(notesPath, 'utf8')}` : '';
writeFileSync(join(dir, 'README.md'), card + notes);
// Tables aligned as the repository's formatter (biome) keeps Markdown.
spawnSync('npx', ['biome', 'format', '--write', join(dir, 'README.md')], {
  cwd: repo,
  stdio: 'ignore',
});
console.error(`card: wrote ${rel}/README.md`);
