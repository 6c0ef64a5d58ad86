// Serving: a deployment's replicas live on agents, keep their model loaded in a child
// (`anneal serve`) and answer generation requests the server routes to them. Control travels
// over the agent's WebSocket; the images go by HTTP PUT to the deployment's image store
// (content-addressed, like artifacts), and the result message carries their sha256.
import { samplerSchema } from '@anneal/engine/config';
import { z } from 'zod';

const id = z.uuid();

/** The largest seed (the engine's seeds are int32). */
export const SEED_MAX = 2 ** 31 - 1;

/** The most images one generation request may ask for. */
export const GENERATE_MAX_N = 64;

/** Sampling a deployment serves with unless a request overrides it. */
export const servedSamplingSchema = z
  .object({
    sampler: samplerSchema.optional(),
    steps: z.number().int().min(1).max(1000).optional(),
    guidance: z.number().min(0).max(50).optional(),
    eta: z.number().min(0).max(1).optional(),
    /**
     * Sample as the version's saved plan for the replica's machine says (its sampler, schedule,
     * steps, batch and dtype: a plan job's result, kept per hardware profile); not with
     * `sampler` or `steps`, which the plan sets.
     */
    plan: z.boolean().optional(),
  })
  .strict();
export type ServedSampling = z.infer<typeof servedSamplingSchema>;

/** Why sampling settings contradict themselves (a plan with a sampler or steps), or null. */
export function planClash(s: {
  plan?: boolean;
  sampler?: unknown;
  steps?: unknown;
}): string | null {
  if (!s.plan) return null;
  const named = (['sampler', 'steps'] as const).filter((k) => s[k] !== undefined);
  return named.length ? `plan: the plan sets the sampling; drop ${named.join(' and ')}` : null;
}

/**
 * A request's sampling over the deployment's: a request that names a sampler or steps is not
 * served by the deployment's plan, and one that asks for the plan drops the deployment's
 * sampler and steps.
 */
export function resolveSampling<T extends ServedSampling>(served: ServedSampling, request: T): T {
  const explicit = request.sampler !== undefined || request.steps !== undefined;
  const base: ServedSampling = { ...served };
  if (request.plan || (served.plan && !explicit && request.plan === undefined)) {
    delete base.sampler;
    delete base.steps;
  } else delete base.plan;
  return { ...base, ...request };
}

/** One generation request as a client sends it (REST body) and a replica receives it. */
export const generateParamsSchema = servedSamplingSchema
  .extend({
    n: z.number().int().min(1).max(GENERATE_MAX_N).default(1),
    class: z.number().int().min(0).max(100_000).optional(),
    /** Absent: the server picks one and returns it, so every answer can be reproduced. */
    seed: z.number().int().min(0).max(SEED_MAX).optional(),
  })
  .strict();
export type GenerateParams = z.infer<typeof generateParamsSchema>;

/** What a replica needs to generate: every field resolved (the seed chosen). */
export const replicaRequestSchema = generateParamsSchema.extend({
  seed: z.number().int().min(0).max(SEED_MAX),
});
export type ReplicaRequest = z.infer<typeof replicaRequestSchema>;

export const imageRefSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(1),
});
export type ImageRef = z.infer<typeof imageRefSchema>;

/** A replica as the agent reports it in hello (re-adopted after a reconnect or restart). */
export const heldReplicaSchema = z.object({
  replicaId: id,
  deploymentId: id,
  ready: z.boolean(),
  /**
   * Set for a replica that ended while the agent was disconnected (its replica_status could not
   * be sent): how it ended and why, so the server records the real reason.
   */
  ended: z.enum(['failed', 'stopped']).optional(),
  detail: z.string().max(4000).optional(),
});

// Agent -> server.

export const replicaStatusSchema = z.object({
  type: z.literal('replica_status'),
  replicaId: id,
  state: z.enum(['ready', 'failed', 'stopped']),
  /** Why it failed or stopped; how long loading took when ready. */
  detail: z.string().max(4000).optional(),
  loadMs: z.number().min(0).optional(),
});

export const generateResultSchema = z.object({
  type: z.literal('generate_result'),
  requestId: id,
  replicaId: id,
  images: z.array(imageRefSchema).min(1).max(GENERATE_MAX_N),
  /** The images tiled as one grid (n > 1). */
  grid: imageRefSchema.optional(),
  /** The child's time for this request (sampling and PNG encoding). */
  generateMs: z.number().min(0),
  nfe: z.number().int().min(0),
  steps: z.number().int().min(0),
  sampler: z.string().min(1).max(50),
});

export const generateFailedSchema = z.object({
  type: z.literal('generate_failed'),
  requestId: id,
  replicaId: id,
  reason: z.string().min(1).max(4000),
});

// Server -> agent.

export const replicaStartSchema = z.object({
  type: z.literal('replica_start'),
  replicaId: id,
  deploymentId: id,
  modelVersionId: id,
});

export const replicaStopSchema = z.object({
  type: z.literal('replica_stop'),
  replicaId: id,
  reason: z.string().max(1000),
});

export const generateSchema = z.object({
  type: z.literal('generate'),
  requestId: id,
  replicaId: id,
  request: replicaRequestSchema,
});
