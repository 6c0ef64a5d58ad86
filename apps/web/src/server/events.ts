import { randomUUID } from 'node:crypto';
import { EventEmitter, on } from 'node:events';

export type RunEvent =
  | { type: 'metrics'; runId: string; keys: string[] }
  | { type: 'status'; runId: string; status: string }
  | { type: 'logs'; runId: string }
  | { type: 'artifacts'; runId: string }
  /** A data-parallel run's group changed: leased, a rank ready, the attempt ended. */
  | { type: 'group'; runId: string };

/**
 * A job's change, for a project's jobs list: its status, or its progress as the agent
 * reports it (`step` of `total`, in the phase the job is in). `projectId` null: some jobs
 * of unknown projects changed (leases swept), every list refetches.
 */
export type JobEvent = {
  type: 'job';
  projectId: string | null;
  jobId: string | null;
  status?: string;
  step?: number;
  total?: number;
  /** The phase `step` counts in (evaluate: extractor, sample, reference, memorization). */
  phase?: string;
  /** Seconds left of the whole job as the agent estimates them; at least that when etaLowerBound. */
  etaS?: number;
  etaLowerBound?: boolean;
  at: number;
};

const ALL_PROJECTS = 'project:*';

/**
 * In-process fan-out of run changes to live subscriptions. One server process owns the
 * browsers it serves; the writes themselves are already in PostgreSQL, so a subscriber
 * only needs a nudge to refetch.
 */
export class RunEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  emit(event: RunEvent): void {
    this.#emitter.emit(event.runId, event);
  }

  async *watch(runId: string, signal?: AbortSignal): AsyncGenerator<RunEvent> {
    yield* this.#on<RunEvent>(runId, signal);
  }

  emitJob(event: Omit<JobEvent, 'type' | 'at'>): void {
    const full: JobEvent = { type: 'job', ...event, at: Date.now() };
    this.#emitter.emit(event.projectId ? `project:${event.projectId}` : ALL_PROJECTS, full);
  }

  /** A project's job events, and the sweeps that may touch any project. */
  async *watchJobs(projectId: string, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const mine = `project:${projectId}`;
    // One private channel per watcher, fed by both sources.
    const channel = `${mine}:${randomUUID()}`;
    const forward = (event: JobEvent) => this.#emitter.emit(channel, event);
    this.#emitter.on(mine, forward);
    this.#emitter.on(ALL_PROJECTS, forward);
    try {
      yield* this.#on<JobEvent>(channel, signal);
    } finally {
      this.#emitter.off(mine, forward);
      this.#emitter.off(ALL_PROJECTS, forward);
    }
  }

  async *#on<T>(name: string, signal?: AbortSignal): AsyncGenerator<T> {
    try {
      for await (const [event] of on(this.#emitter, name, { signal })) yield event as T;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}
