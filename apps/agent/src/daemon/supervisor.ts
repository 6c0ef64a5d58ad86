import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '@anneal/core/errors';
import type { AgentMessageInput, JobOffer, MetricPoint } from '@anneal/protocol';
import { fetchDatasetVersion } from './fetch-dataset.ts';
import type { ServerApi } from './http.ts';
import { jobArgs, SpecError } from './job-args.ts';

/** What a running job reports to the daemon, which journals and sends it. */
export type Report = (message: AgentMessageInput) => void;

const ANNEAL_BIN = fileURLToPath(new URL('../../bin/anneal.js', import.meta.url));
/** How long a job gets to stop after SIGTERM before SIGKILL. */
export const KILL_GRACE_MS = 5000;

interface TrainEvent {
  event: 'metrics' | 'checkpoint' | 'progress';
  step: number;
  total?: number;
  dir?: string;
  files?: string[];
  [key: string]: unknown;
}

/**
 * Builds `anneal train` flags from a train spec: every field of the spec becomes a flag
 * (the dataset as its whole ref, options included), so nothing is left to the CLI's
 * defaults. A version ref must already be fetched into the store the child reads.
 */
export function trainArgs(offer: JobOffer, out: string, resume: boolean): string[] {
  if (offer.job.type !== 'train') throw new Error('not a train job');
  const s = offer.job.spec;
  const args = [
    'train',
    '--dataset-ref',
    JSON.stringify(s.dataset),
    '--resolution',
    String(s.resolution),
    '--steps',
    String(s.steps),
    '--preset',
    s.preset,
    '--parameterization',
    s.parameterization,
    '--seed',
    String(s.seed),
    '--ema-decay',
    String(s.ema_decay),
    '--grad-clip',
    String(s.grad_clip),
    '--checkpoint-every',
    String(s.checkpoint_every),
    '--log-every',
    String(s.log_every),
    '--out',
    out,
    '--json',
    '--events',
  ];
  if (s.batch) args.push('--batch', String(s.batch));
  if (s.lr !== undefined) args.push('--lr', String(s.lr));
  if (s.warmup !== undefined) args.push('--warmup', String(s.warmup));
  if (s.dtype) args.push('--dtype', s.dtype);
  if (!s.conditional) args.push('--unconditional');
  if (resume) args.push('--resume');
  return args;
}

const METRIC_KEYS = [
  'loss',
  'lr',
  'grad_norm',
  'images_per_s',
  'peak_memory_bytes',
  'active_memory_bytes',
];

/**
 * One job in a child process (`anneal train|sample|eval|bench`), so a native crash fails that job
 * only. The child's stdout carries JSON lines: metrics per logged step, a checkpoint per
 * chunk, and the summary last. Checkpoints are uploaded as they come; a re-leased job
 * downloads the last one and resumes from it.
 */
export class JobSupervisor {
  #child: ChildProcess | null = null;
  /** Aborts the downloads of the job's inputs (checkpoint, dataset, model) on stop(). */
  #inputs = new AbortController();
  #stopping: string | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #uploads: Promise<void> = Promise.resolve();
  #stderr = '';
  #summary: Record<string, unknown> = {};
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  constructor(
    readonly offer: JobOffer,
    private readonly api: ServerApi,
    private readonly workRoot: string,
    private readonly report: Report,
    private readonly log: (line: string) => void,
    /** ANNEAL_HOME: where dataset versions are cached, and the child's home. */
    private readonly home: string,
  ) {
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  get #work(): string {
    return join(this.workRoot, this.offer.jobId, this.offer.leaseId);
  }

  get lease() {
    return { jobId: this.offer.jobId, leaseId: this.offer.leaseId };
  }

  start(): void {
    // A spec that names something that is not there (SpecError) or a dataset whose manifest
    // does not hash to the job's (CONFLICT) fails the same way on every agent: not retried.
    void this.#run().catch((err) =>
      this.#fail(
        (err as Error).message,
        !(err instanceof SpecError) && !(err instanceof AppError && err.code === 'CONFLICT'),
      ),
    );
  }

  /** True (and the job settled) when stop() came while #run was still fetching inputs. */
  #stoppedBeforeStart(): boolean {
    if (!this.#stopping) return false;
    this.log(`job ${this.offer.jobId}: stopped before it started (${this.#stopping})`);
    this.#resolveDone();
    return true;
  }

  /** Stops the job: SIGTERM, then SIGKILL after the grace period. Reports nothing. */
  stop(reason: string): void {
    this.#stopping = reason;
    this.#inputs.abort(new Error(`stopped: ${reason}`));
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    this.#killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  }

  async #run(): Promise<void> {
    // One folder per lease: a re-leased job never shares files with a child of an old
    // lease that is still being stopped.
    const work = this.#work;
    const out = join(work, 'out');
    const api = this.api.withSignal(this.#inputs.signal);
    let resume = false;
    if (this.offer.resume && this.offer.resume.artifacts.length > 0) {
      // The run's last uploaded checkpoint wins over whatever this disk holds.
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      for (const ref of this.offer.resume.artifacts) {
        await api.getArtifact(this.offer.runId, ref, join(out, basename(ref.path)));
        if (this.#stoppedBeforeStart()) return;
      }
      resume = true;
      this.log(`job ${this.offer.jobId}: resuming from step ${this.offer.resume.step}`);
    } else {
      rmSync(out, { recursive: true, force: true });
    }
    mkdirSync(work, { recursive: true });
    // A train job reads its dataset; an evaluate job the one its checkpoint was trained on.
    const { job } = this.offer;
    const dataset =
      job.type === 'train'
        ? job.spec.dataset
        : job.type === 'evaluate'
          ? this.offer.sourceDataset
          : null;
    if (dataset?.kind === 'version') {
      const fetched = await fetchDatasetVersion(api, dataset, this.home);
      this.log(
        `job ${this.offer.jobId}: dataset ${dataset.id}: ${fetched.fetched} files fetched, ${fetched.cached} cached` +
          (fetched.replaced.length
            ? `, ${fetched.replaced.length} corrupt in the cache replaced`
            : ''),
      );
    }
    if (this.#stoppedBeforeStart()) return;
    const args =
      this.offer.job.type === 'train'
        ? trainArgs(this.offer, out, resume)
        : await jobArgs(this.offer, api, work);
    // Cancelled or shut down while the inputs were fetched: never start the child.
    if (this.#stoppedBeforeStart()) return;
    const child = spawn(process.execPath, [ANNEAL_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ANNEAL_HOME: this.home },
    });
    this.#child = child;
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        this.#line(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.on('error', (err) => this.#fail(`could not start the job: ${err.message}`, true));
    child.on('exit', (code, signal) => {
      if (buffer.trim()) this.#line(buffer);
      if (this.#killTimer) clearTimeout(this.#killTimer);
      void this.#exited(code, signal);
    });
  }

  #line(line: string): void {
    let event: TrainEvent;
    try {
      event = JSON.parse(line) as TrainEvent;
    } catch {
      return;
    }
    if (event.event === 'metrics') {
      const points: MetricPoint[] = [];
      for (const key of METRIC_KEYS) {
        const value = event[key];
        if (typeof value === 'number' && Number.isFinite(value))
          points.push({ key, step: event.step, value });
      }
      if (points.length) this.report({ type: 'job_metrics', ...this.lease, points });
      this.report({
        type: 'job_progress',
        ...this.lease,
        step: event.step,
        total: event.total ?? event.step,
      });
    } else if (event.event === 'progress' && typeof event.total === 'number') {
      // evaluate: the phase in progress (extractor training, sampling, reference).
      this.report({ type: 'job_progress', ...this.lease, step: event.step, total: event.total });
    } else if (event.event === 'checkpoint' && event.dir && event.files) {
      const { dir, files, step } = event;
      this.#uploads = this.#uploads.then(() => this.#uploadCheckpoint(dir, files, step));
    } else if (!event.event) {
      this.#summary = event;
    }
  }

  async #uploadCheckpoint(dir: string, files: string[], step: number): Promise<void> {
    try {
      for (const [i, file] of files.entries()) {
        const artifact = await this.api.putArtifact(
          this.offer.runId,
          `checkpoints/latest/${file}`,
          join(dir, file),
        );
        this.report({
          type: 'job_artifact',
          ...this.lease,
          artifact,
          ...(i === files.length - 1 ? { checkpointStep: step } : {}),
        });
      }
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      // A lost upload is not fatal: the next checkpoint or the final one carries the state.
      this.log(
        `job ${this.offer.jobId}: checkpoint upload at step ${step} failed: ${(err as Error).message}`,
      );
    }
  }

  async #exited(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    await this.#uploads;
    if (this.#stopping) {
      this.log(`job ${this.offer.jobId}: stopped (${this.#stopping})`);
    } else if (code === 0) {
      if (this.offer.job.type === 'sample') {
        try {
          const artifact = await this.api.putArtifact(
            this.offer.runId,
            'samples/grid.png',
            join(this.#work, 'grid.png'),
          );
          this.report({ type: 'job_artifact', ...this.lease, artifact });
        } catch (err) {
          return this.#fail(`could not upload the sample grid: ${(err as Error).message}`, true);
        }
      }
      if (this.offer.job.type === 'bench') {
        // The result file beside the summary, so the run keeps the machine record in full.
        const name = `${this.offer.job.spec.benchmark}.json`;
        try {
          const artifact = await this.api.putArtifact(
            this.offer.runId,
            `bench/${name}`,
            join(this.#work, 'bench', name),
          );
          this.report({ type: 'job_artifact', ...this.lease, artifact });
        } catch (err) {
          return this.#fail(`could not upload the bench result: ${(err as Error).message}`, true);
        }
      }
      this.report({ type: 'job_complete', ...this.lease, summary: this.#summary });
      // Everything worth keeping is uploaded.
      rmSync(join(this.workRoot, this.offer.jobId), { recursive: true, force: true });
    } else {
      const tail = this.#stderr.trim().split('\n').slice(-5).join('\n');
      // Exit code 2 is a usage error: the spec itself is wrong, retrying cannot help.
      return this.#fail(
        `the job exited with ${signal ?? `code ${code}`}: ${tail || 'no output'}`,
        code !== 2,
      );
    }
    this.#resolveDone();
  }

  #fail(reason: string, retryable: boolean): void {
    this.log(`job ${this.offer.jobId}: ${reason}`);
    if (!this.#stopping)
      this.report({ type: 'job_fail', ...this.lease, reason: reason.slice(0, 4000), retryable });
    this.#resolveDone();
  }
}
