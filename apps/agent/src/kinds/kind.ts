// The agent's part of a job kind: the flags `anneal submit <type>` takes, the `anneal`
// command line its child runs, and the files it leaves for the run. The pure part (spec,
// events, memory) is the protocol's kind (packages/protocol/src/kinds).

import type { JobOffer, JobType, SpecOf } from '@anneal/protocol';
import type { z } from 'zod';
import type { ServerApi } from '../daemon/http.ts';

/** A parseArgs option table. */
export type FlagOptions = Record<string, { type: 'string' | 'boolean' }>;

/** Where a job's child runs and what it starts from. */
export interface RunContext {
  offer: JobOffer;
  /** The control plane, aborted when the job is stopped. */
  api: ServerApi;
  /** This lease's folder. */
  work: string;
  /** The checkpoint folder (train), inside `work`. */
  out: string;
  /** Whether `out` holds the run's last uploaded checkpoint to resume from. */
  resume: boolean;
}

/**
 * The child's summary as its kind's schema parsed it, written into the lease's folder after
 * a zero exit and before the outputs are uploaded: a kind that keeps it as an artifact lists
 * it among its outputs.
 */
export const SUMMARY_FILE = 'summary.json';

/** A file the child leaves for the run, uploaded after it exits with 0. */
export interface JobOutput {
  /** The artifact path in the run. */
  path: string;
  /** The local file. */
  file: string;
  /** What it is, for the failure message when the upload fails. */
  what: string;
}

export interface AgentJobKind<T extends JobType> {
  type: T;
  /** `anneal submit <type>`: its flags beyond the common ones, their help and the spec. */
  submit: {
    usage: string;
    options: FlagOptions;
    flags: z.ZodObject;
    /** The spec the flags describe (undefined fields take the spec's defaults). */
    spec(flags: Record<string, unknown>): Record<string, unknown>;
    /** The flag that sets a spec field, where the two names differ (for error messages). */
    flagOf?: Record<string, string>;
  };
  /**
   * The `anneal` arguments of the child (`--json`, and `--events` so a failure prints its
   * error event); fetches the inputs they name into `ctx.work` first.
   */
  args(spec: SpecOf<T>, ctx: RunContext): Promise<string[]>;
  /** The files the child leaves for the run. */
  outputs(spec: SpecOf<T>, work: string): JobOutput[];
}

/** The agent part of every kind, keyed by type so a kind without one is a type error. */
export type AgentJobKinds = { [T in JobType]: AgentJobKind<T> };
