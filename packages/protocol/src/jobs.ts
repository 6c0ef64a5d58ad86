import { z } from 'zod';
import { benchKind } from './kinds/bench.ts';
import { distillKind } from './kinds/distill.ts';
import { evaluateKind } from './kinds/evaluate.ts';
import { planKind } from './kinds/plan.ts';
import { sampleKind } from './kinds/sample.ts';
import { searchKind } from './kinds/search.ts';
import { trainKind } from './kinds/train.ts';

export * from './kinds/bench.ts';
export * from './kinds/distill.ts';
export * from './kinds/evaluate.ts';
export * from './kinds/kind.ts';
export * from './kinds/model-source.ts';
export * from './kinds/plan.ts';
export * from './kinds/sample.ts';
export * from './kinds/search.ts';
export * from './kinds/train.ts';

/**
 * The job kinds, in the order lists and forms show them: adding a kind is its module in
 * ./kinds and one entry here (and one in the agent's and the server's kind tables).
 */
export const jobKinds = [
  trainKind,
  sampleKind,
  evaluateKind,
  benchKind,
  distillKind,
  planKind,
  searchKind,
] as const;

type Kinds = typeof jobKinds;
type Field<T extends readonly unknown[], K extends string> = {
  -readonly [I in keyof T]: T[I] extends { [P in K]: infer V } ? V : never;
};
export type JobType = Kinds[number]['type'];
export const jobTypes = jobKinds.map((k) => k.type) as Field<Kinds, 'type'>;
export const jobTypeSchema = z.enum(jobTypes);

/** A job as submitted and as offered: its type and the spec that type takes. */
export const jobSpecSchema = z.discriminatedUnion(
  'type',
  jobKinds.map((k) => k.job) as unknown as Field<Kinds, 'job'>,
);
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The job of one type. */
export type JobOf<T extends JobType> = Extract<JobSpec, { type: T }>;
/** The spec of one type, as parsed. */
export type SpecOf<T extends JobType> = JobOf<T>['spec'];

/** The kind that runs jobs of `type`; undefined for a type no kind defines. */
export function jobKindOf(type: string): Kinds[number] | undefined {
  return jobKinds.find((k) => k.type === type);
}

/** What a kind's child prints on one stdout line: an event, or its summary. */
export type ChildLine =
  | { kind: 'event'; event: z.infer<Kinds[number]['events']> }
  | { kind: 'summary'; summary: Record<string, unknown> };

/**
 * Parses one line of a `type` job's child output with the kind's schemas: an object with
 * `event` is one of the kind's events, any other object its summary. Throws an Error that
 * quotes the line and names the field when it is neither.
 */
export function parseChildLine(type: JobType, line: string): ChildLine {
  const kind = jobKindOf(type);
  if (!kind) throw new Error(`no job kind "${type}"`);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error(`the ${type} child printed a line that is not JSON: ${quote(line)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`the ${type} child printed a line that is not a JSON object: ${quote(line)}`);
  const isEvent = 'event' in raw;
  const parsed = isEvent ? kind.events.safeParse(raw) : kind.result.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const what = isEvent ? 'event' : 'summary';
    throw new Error(
      `the ${type} child printed an invalid ${what} (${issue?.path.join('.') || what}: ${issue?.message}): ${quote(line)}`,
    );
  }
  // What the schema made of the line (unknown keys dropped), not the line's own object.
  return isEvent
    ? { kind: 'event', event: parsed.data as z.infer<Kinds[number]['events']> }
    : { kind: 'summary', summary: parsed.data as Record<string, unknown> };
}

const quote = (line: string) => JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line);

/**
 * The steps a stored job reports progress against, known from its spec (a train job's
 * `steps`); null for kinds whose child alone knows, or a spec that does not parse.
 */
export function jobTotalSteps(type: string, spec: unknown): number | null {
  const parsed = jobSpecSchema.safeParse({ type, spec });
  if (!parsed.success) return null;
  return jobKindOf(parsed.data.type)?.totalSteps(parsed.data.spec as never) ?? null;
}
