import type { Db } from '@anneal/db/client';
import type { JobType } from '@anneal/protocol';

/** A job that succeeded, as its agent reported it. */
export interface Completion {
  orgId: string;
  agentId: string;
  job: { id: string; type: string; spec: unknown };
  runId: string;
  /** The child's summary, as its kind's `result` schema parsed what the agent sent. */
  summary: Record<string, unknown>;
}

/** The server's part of a job kind: what its success stores and registers. */
export interface WebJobKind {
  /** Records what the job leaves behind; returns why the summary was refused, or null. */
  complete(db: Db, done: Completion): Promise<string | null>;
}

/** The server part of every kind, keyed by type so a kind without one is a type error. */
export type WebJobKinds = { [T in JobType]: WebJobKind };
