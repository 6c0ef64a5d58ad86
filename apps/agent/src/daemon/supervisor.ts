import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AgentMessageInput,
  CHECKPOINT_PREFIX,
  type ChildLine,
  type ErrorEvent,
  ETA_MAX_S,
  JOB_LOG_TAIL_LINES,
  type JobOffer,
  jobKindOf,
  METRIC_EVENT_KEYS,
  type MetricPoint,
  PROGRESS_MESSAGE_MAX,
  type ProgressEvent,
  parseChildLine,
  SAMPLE_INDEX_ARTIFACT,
  STAGE_EVENT_KEYS,
} from '@anneal/protocol';
import { freePort } from '../commands/train-ranks.ts';
import { isRetryable } from '../failure.ts';
import { agentJobKind } from '../kinds/index.ts';
import { SUMMARY_FILE } from '../kinds/kind.ts';
import { fetchDatasetVersion } from './fetch-dataset.ts';
import type { ServerApi } from './http.ts';

/** What a running job reports to the daemon, which journals and sends it. */
export type Report = (message: AgentMessageInput) => void;

const ANNEAL_BIN = fileURLToPath(new URL('../../bin/anneal.js', import.meta.url));

/**
 * Starts a job's child: `args` are the `anneal` command's, `env` its environment. The child
 * must have piped stdout and stderr. Injected so tests can run a scripted child instead.
 */
export type SpawnChild = (args: string[], env: NodeJS.ProcessEnv) => ChildProcess;

/** The `anneal` command of this install, under the Node running the agent. */
export const spawnAnneal: SpawnChild = (args, env) =>
  spawn(process.execPath, [ANNEAL_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env,
  });
/** A free port on `host`, or an error that says what to set. */
async function freePortOn(host: string): Promise<number> {
  try {
    return await freePort(host);
  } catch (err) {
    throw new Error(
      `cannot listen on ${host} for the group's ring (${(err as Error).message}); start the agent with --group-host set to an address of this machine the other agents reach`,
    );
  }
}

/** How long a job gets to stop after SIGTERM before SIGKILL. */
export const KILL_GRACE_MS = 5000;
/**
 * A group's rank stops at the next step its ranks agree on (every RANK_AGREE_EVERY steps),
 * where rank 0 writes the checkpoint: it gets longer.
 */
export const GROUP_KILL_GRACE_MS = 30_000;
/** How often a rank waiting for its group's start says again that it is ready. */
export const GROUP_READY_AGAIN_MS = 10_000;
/** How long the child's stdout is still read after it exited (see 'close' below). */
export const STDIO_GRACE_MS = 5000;

/**
 * A child's progress event as job_progress fields, clamped to what the server takes (a
 * phase past PROGRESS_MESSAGE_MAX characters, an ETA past ETA_MAX_S): the server refuses a
 * message out of bounds, and the journal would replay it for nothing.
 */
/**
 * Where a resumed job's artifact goes in its folder, as path segments: a checkpoint file at
 * its path under CHECKPOINT_PREFIX, the grids' index at its own. Refuses a path that would
 * leave the folder (the server refuses to store one; this does not trust that).
 */
export function checkpointFilePath(path: string): string[] {
  const rel = path.startsWith(CHECKPOINT_PREFIX) ? path.slice(CHECKPOINT_PREFIX.length) : path;
  const segments = rel.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\')))
    throw new Error(`resume artifact ${JSON.stringify(path)} is not a relative path`);
  if (!path.startsWith(CHECKPOINT_PREFIX) && path !== SAMPLE_INDEX_ARTIFACT)
    throw new Error(
      `resume artifact ${JSON.stringify(path)} is neither a checkpoint file nor the grids' index`,
    );
  return segments;
}

export function progressReport(event: ProgressEvent) {
  return {
    step: event.step,
    total: event.total,
    ...(event.phase ? { message: event.phase.slice(0, PROGRESS_MESSAGE_MAX) } : {}),
    ...(event.eta_s !== undefined
      ? { etaS: Math.min(event.eta_s, ETA_MAX_S), etaLowerBound: event.eta_lower_bound ?? false }
      : {}),
  };
}

/**
 * One job in a child process (the `anneal` command its kind names), so a native crash fails
 * that job only. The child's stdout carries JSON lines, each parsed with the kind's schemas:
 * its events (metrics per logged step, a checkpoint per chunk, progress, an error before a
 * failing exit) and the summary last. Checkpoints are uploaded as they come; a re-leased job
 * downloads the last one and resumes from it.
 *
 * The outcome is decided once the child has exited and its stdio has closed (so every line
 * it wrote has been read), in this order: a zero exit succeeds unless a line broke the
 * kind's schemas or the summary is missing (the same child does the same again, so that is
 * not retried); a failing exit is the child's error event, if it printed one, else a crash,
 * retried. A line cut short by a crash (OOM kill, segfault) is the crash's, not a bad line.
 */
export class JobSupervisor {
  #child: ChildProcess | null = null;
  /** Aborts the downloads of the job's inputs (checkpoint, dataset, model) on stop(). */
  #inputs = new AbortController();
  #stopping: string | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #uploads: Promise<void> = Promise.resolve();
  /** The child's last output lines (stderr, and stdout lines that are not its JSON). */
  #tail: string[] = [];
  #stderrPartial = '';
  #summary: Record<string, unknown> = {};
  /** Why the child said it failed, from its error event. */
  #error: ErrorEvent | null = null;
  /** The summary line was read (a zero exit without one is a failure). */
  #summarized = false;
  /** Why the first line the child printed that its kind's schemas refuse was refused. */
  #malformed: string | null = null;
  /** The job was reported (completed or failed) or stopped: nothing more is reported. */
  #settled = false;
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  /** A group's hostfile from job_group_start, once every rank is ready. */
  #hosts: { promise: Promise<string[][]>; resolve: (hosts: string[][]) => void };

  constructor(
    readonly offer: JobOffer,
    private readonly api: ServerApi,
    private readonly workRoot: string,
    private readonly report: Report,
    private readonly log: (line: string) => void,
    /** ANNEAL_HOME: where dataset versions are cached, and the child's home. */
    private readonly home: string,
    private readonly spawnChild: SpawnChild = spawnAnneal,
    /** Where the other ranks of a group reach this agent (an IPv4 address or host name). */
    private readonly groupHost: () => string = () => '127.0.0.1',
  ) {
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    let resolveHosts: (hosts: string[][]) => void = () => {};
    const promise = new Promise<string[][]>((resolve) => {
      resolveHosts = resolve;
    });
    this.#hosts = { promise, resolve: resolveHosts };
  }

  /** Rank 0 reports for the job; the other ranks of a group only their end. */
  get #reports(): boolean {
    return (this.offer.group?.rank ?? 0) === 0;
  }

  /** job_group_start: every rank of the group is ready; `hosts` is the ring's hostfile. */
  startGroup(hosts: string[][]): void {
    this.#hosts.resolve(hosts);
  }

  /**
   * A group's rank: a port to listen on, told to the server, then the hostfile once every
   * rank has told it; returns the flags that make the child that rank. Null when stopped.
   */
  async #joinGroup(work: string, group: { rank: number; size: number }): Promise<string[] | null> {
    const host = this.groupHost();
    if (host.includes(':'))
      throw new Error(
        `this agent reaches the server over IPv6 (${host}), and MLX's ring backend takes IPv4 addresses or host names: start the agent with --group-host set to one`,
      );
    const port = await freePortOn(host);
    const ready = () => {
      try {
        this.report({ type: 'job_group_ready', ...this.lease, address: `${host}:${port}` });
      } catch (err) {
        this.log(`job ${this.offer.jobId}: could not say it is ready: ${(err as Error).message}`);
      }
    };
    // Stopped while the port was chosen: the abort has fired already.
    const signal = this.#inputs.signal;
    if (signal.aborted) return null;
    ready();
    this.log(
      `job ${this.offer.jobId}: rank ${group.rank} of ${group.size} ready at ${host}:${port}; waiting for the others`,
    );
    const stopped = new Promise<null>((resolve) =>
      signal.addEventListener('abort', () => resolve(null), { once: true }),
    );
    // Said again while waiting: a start the server sent that never arrived is sent again.
    const again = setInterval(ready, GROUP_READY_AGAIN_MS);
    const hosts = await Promise.race([this.#hosts.promise, stopped]).finally(() =>
      clearInterval(again),
    );
    if (!hosts) return null;
    if (hosts.length !== group.size)
      throw new Error(
        `the group's hostfile lists ${hosts.length} ranks, the offer said ${group.size}`,
      );
    const file = join(work, 'hosts.json');
    writeFileSync(file, `${JSON.stringify(hosts)}\n`);
    return ['--hostfile', file, '--rank', String(group.rank)];
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
    void this.#run().catch((err) => this.#fail((err as Error).message, isRetryable(err)));
  }

  /** True (and the job settled) when stop() came while #run was still fetching inputs. */
  #stoppedBeforeStart(): boolean {
    if (!this.#stopping) return false;
    this.log(`job ${this.offer.jobId}: stopped before it started (${this.#stopping})`);
    this.#settle();
    return true;
  }

  /** Stops the job: SIGTERM, then SIGKILL after the grace period. Reports nothing. */
  stop(reason: string): void {
    this.#stopping = reason;
    this.#inputs.abort(new Error(`stopped: ${reason}`));
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    this.#killTimer = setTimeout(
      () => child.kill('SIGKILL'),
      this.offer.group ? GROUP_KILL_GRACE_MS : KILL_GRACE_MS,
    );
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
        // The checkpoint's files keep their layout under checkpoints/latest/ (train's are
        // flat; a distill run's are its folder's); the grids' index goes where `anneal train`
        // keeps it, so the resumed child keeps its frames (past the step, dropped).
        const local = join(out, ...checkpointFilePath(ref.path));
        mkdirSync(dirname(local), { recursive: true });
        await api.getArtifact(this.offer.runId, ref, local);
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
    const kind = jobKindOf(job.type);
    if (!kind) throw new Error(`this agent cannot run ${job.type} jobs`);
    const dataset =
      kind.dataset(job.spec as never) ??
      (kind.readsSourceDataset ? this.offer.sourceDataset : null);
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
    const args = await agentJobKind(job.type).args(job.spec as never, {
      offer: this.offer,
      api,
      work,
      out,
      resume,
    });
    // Cancelled or shut down while the inputs were fetched: never start the child.
    if (this.#stoppedBeforeStart()) return;
    if (this.offer.group) {
      // Null: stopped while it waited for the other ranks.
      const rankArgs = await this.#joinGroup(work, this.offer.group);
      if (this.#stoppedBeforeStart() || !rankArgs) return;
      args.push(...rankArgs);
    }
    this.log(
      `job ${this.offer.jobId}: anneal ${args[0]}${args.includes('--resume') ? ' --resume' : ''}`,
    );
    const child = this.spawnChild(args, { ...process.env, ANNEAL_HOME: this.home });
    this.#child = child;
    let buffer = '';
    // Decoded as a stream: a character split between two chunks stays whole.
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffer += chunk;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        this.#line(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (this.#stderrPartial + chunk).split(/\r?\n|\r/);
      this.#stderrPartial = lines.pop() ?? '';
      for (const line of lines) this.#keep(line);
    });
    child.on('error', (err) => this.#fail(`could not start the job: ${err.message}`, true));
    // 'close', not 'exit': at 'exit' the child's stdio may still be open (Node's docs), and
    // its last lines unread. A process the child started can hold them open past its exit:
    // what it writes within the grace period is read, then the pipes are closed.
    let drain: NodeJS.Timeout | null = null;
    child.on('exit', () => {
      drain = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, STDIO_GRACE_MS);
    });
    child.on('close', (code, signal) => {
      if (drain) clearTimeout(drain);
      if (this.#killTimer) clearTimeout(this.#killTimer);
      if (buffer.trim()) {
        // A last line without its newline: whole when the child exited normally; cut short
        // by whatever ended it otherwise, and then the exit, not the line, says what failed.
        if (code === 0) this.#line(buffer);
        else this.log(`job ${this.offer.jobId}: output cut short: ${buffer.slice(0, 200)}`);
      }
      void this.#exited(code, signal);
    });
  }

  /** Keeps a line of the child's output for a failure's log tail. */
  #keep(line: string): void {
    if (!line.trim()) return;
    this.#tail.push(line.slice(0, 2000));
    if (this.#tail.length > JOB_LOG_TAIL_LINES) this.#tail.shift();
  }

  #line(line: string): void {
    if (!line.trim()) return;
    let parsed: ChildLine;
    try {
      parsed = parseChildLine(this.offer.job.type, line);
    } catch (err) {
      this.#keep(line);
      // The child and this agent disagree on the kind's events, or something else wrote to
      // stdout. Whether that fails the job is decided at the exit: a crash outranks it.
      const why = (err as Error).message;
      this.#malformed ??= why;
      this.log(`job ${this.offer.jobId}: ${why}`);
      return;
    }
    if (parsed.kind === 'summary') {
      this.#summary = parsed.summary;
      this.#summarized = true;
      return;
    }
    const { event } = parsed;
    // A rank other than 0 writes nothing the run keeps; its error event still says why it failed.
    if (!this.#reports && event.event !== 'error' && event.event !== 'warning') return;
    switch (event.event) {
      case 'metrics': {
        const points: MetricPoint[] = [];
        const keys = [...METRIC_EVENT_KEYS, ...(event.stage !== undefined ? STAGE_EVENT_KEYS : [])];
        for (const key of keys) {
          const value = event[key];
          if (typeof value === 'number' && Number.isFinite(value))
            points.push({ key, step: event.step, value });
        }
        if (points.length) this.report({ type: 'job_metrics', ...this.lease, points });
        this.report({ type: 'job_progress', ...this.lease, step: event.step, total: event.total });
        return;
      }
      case 'progress':
        // evaluate: the phase in progress (extractor training, sampling, reference); distill:
        // the iterations of the planned stages.
        this.report({ type: 'job_progress', ...this.lease, ...progressReport(event) });
        return;
      case 'checkpoint': {
        const { dir, files, step } = event;
        this.#uploads = this.#uploads.then(() => this.#uploadCheckpoint(dir, files, step));
        return;
      }
      case 'samples': {
        const { file, index, step } = event;
        this.#uploads = this.#uploads.then(() => this.#uploadSamples(file, index, step));
        return;
      }
      case 'stage':
        // distill: a finished stage's verdict (the summary lists them all at the end).
        this.log(
          `job ${this.offer.jobId}: stage ${event.stage} (${event.steps} steps): ${event.reason ?? event.decision}`,
        );
        return;
      case 'warning':
        // The child printed it on stderr too, so a failure's log tail has it already.
        this.log(`job ${this.offer.jobId}: warning: ${event.message}`);
        return;
      case 'error':
        this.#error = event;
        return;
    }
  }

  async #uploadCheckpoint(dir: string, files: string[], step: number): Promise<void> {
    try {
      for (const [i, file] of files.entries()) {
        const artifact = await this.api.putArtifact(
          this.offer.runId,
          `${CHECKPOINT_PREFIX}${file}`,
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

  /**
   * A training sample grid: the PNG under its step's name, then the index that lists it (so
   * the index never names a grid the store lacks).
   */
  async #uploadSamples(file: string, index: string, step: number): Promise<void> {
    try {
      for (const [path, local] of [
        [`samples/step-${step}.png`, file],
        [SAMPLE_INDEX_ARTIFACT, index],
      ] as const) {
        const artifact = await this.api.putArtifact(this.offer.runId, path, local);
        this.report({ type: 'job_artifact', ...this.lease, artifact });
      }
    } catch (err) {
      // A lost grid is not fatal: the run goes on, and the next index lists what is there.
      this.log(
        `job ${this.offer.jobId}: sample grid upload at step ${step} failed: ${(err as Error).message}`,
      );
    }
  }

  async #exited(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    await this.#uploads;
    if (this.#settled) return;
    if (this.#stopping) {
      this.log(`job ${this.offer.jobId}: stopped (${this.#stopping})`);
    } else if (code === 0 && this.#malformed) {
      // The child ran to its end and printed what this agent cannot read: another attempt
      // runs the same child, so it is not retried.
      return this.#fail(this.#malformed, false);
    } else if (code === 0 && !this.#summarized) {
      return this.#fail(
        `the ${this.offer.job.type} job exited without printing its summary`,
        false,
      );
    } else if (code === 0 && !this.#reports) {
      // Its part is done; rank 0 reports the job.
      this.report({ type: 'job_complete', ...this.lease, summary: {} });
      rmSync(this.#work, { recursive: true, force: true });
    } else if (code === 0) {
      const { job } = this.offer;
      try {
        writeFileSync(join(this.#work, SUMMARY_FILE), `${JSON.stringify(this.#summary)}\n`);
      } catch (err) {
        return this.#fail(`could not keep the summary: ${(err as Error).message}`, true);
      }
      for (const output of agentJobKind(job.type).outputs(job.spec as never, this.#work)) {
        try {
          const artifact = await this.api.putArtifact(this.offer.runId, output.path, output.file);
          this.report({ type: 'job_artifact', ...this.lease, artifact });
        } catch (err) {
          return this.#fail(`could not upload ${output.what}: ${(err as Error).message}`, true);
        }
      }
      this.report({ type: 'job_complete', ...this.lease, summary: this.#summary });
      // Everything worth keeping is uploaded.
      rmSync(join(this.workRoot, this.offer.jobId), { recursive: true, force: true });
    } else {
      this.#keep(this.#stderrPartial);
      this.#stderrPartial = '';
      const tail = this.#tail.slice(-5).join('\n');
      const exit = `the job exited with ${signal ?? `code ${code}`}`;
      // The child's error event says whether another attempt could succeed (a bad file or
      // spec fails the same everywhere); without one (a crash), it may.
      if (this.#error) return this.#fail(`${exit}: ${this.#error.reason}`, this.#error.retryable);
      // Exit code 2 is a usage error: the spec itself is wrong, retrying cannot help.
      return this.#fail(`${exit}: ${tail || 'no output'}`, code !== 2);
    }
    this.#settle();
  }

  #fail(reason: string, retryable: boolean): void {
    // A child that fails to start can emit 'error' and then 'close': report once.
    if (this.#settled) return;
    this.log(`job ${this.offer.jobId}: ${reason}`);
    if (!this.#stopping)
      this.report({
        type: 'job_fail',
        ...this.lease,
        reason: reason.slice(0, 4000),
        retryable,
        ...(this.#tail.length ? { log: [...this.#tail] } : {}),
      });
    this.#settle();
  }

  #settle(): void {
    this.#settled = true;
    this.#resolveDone();
  }
}
