import { isIP } from 'node:net';
import { join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core';
import { z } from 'zod';

const MiB = 1024 * 1024;

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  /** JSON bodies (tRPC and REST) larger than this are refused with 413. */
  ANNEAL_JSON_LIMIT: z.coerce
    .number()
    .int()
    .positive()
    .default(1 * MiB),
  /** Artifact and dataset uploads: large enough for checkpoints. */
  ANNEAL_UPLOAD_LIMIT: z.coerce
    .number()
    .int()
    .positive()
    .default(8 * 1024 * MiB),
  /** How long an agent's job lease lasts without a heartbeat (tests shorten it). */
  ANNEAL_LEASE_MS: z.coerce.number().int().min(200).default(30_000),
  /**
   * How long the ranks of a data-parallel job's group have to fetch their inputs and say
   * where they listen before the attempt ends for all of them.
   */
  ANNEAL_GROUP_START_MS: z.coerce.number().int().min(100).default(600_000),
  /** How long a generation request may wait for a replica and run before it fails (503). */
  ANNEAL_GENERATE_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
  /** The first wait before a failed alert webhook is retried (it doubles, five attempts). */
  ANNEAL_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10).default(1000),
  /** How often projects with an MLflow mirror are pushed to their MLflow servers. */
  ANNEAL_MLFLOW_MIRROR_MS: z.coerce.number().int().min(1000).default(60_000),
  /**
   * Reverse proxies (comma-separated addresses) whose X-Forwarded-For names the client:
   * sign-in limits count failures per client address, not per proxy.
   */
  ANNEAL_TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .refine((list) => list.every((a) => isIP(a) !== 0), { message: 'must list IP addresses' }),
});

export interface ServerConfig {
  port: number;
  host: string;
  annealHome: string;
  artifactsDir: string;
  jsonLimit: number;
  uploadLimit: number;
  leaseMs: number;
  groupStartMs: number;
  trustedProxies: string[];
  mlflowMirrorMs: number;
  generateTimeoutMs: number;
  webhookBackoffMs: number;
}

/** Server settings from the environment; a bad value is an error naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${String(issue?.path[0] ?? 'environment')}: ${issue?.message ?? 'invalid'}`);
  }
  const annealHome = resolveAnnealHome(env as NodeJS.ProcessEnv);
  return {
    port: parsed.data.PORT,
    host: parsed.data.HOST,
    annealHome,
    artifactsDir: join(annealHome, 'artifacts'),
    jsonLimit: parsed.data.ANNEAL_JSON_LIMIT,
    uploadLimit: parsed.data.ANNEAL_UPLOAD_LIMIT,
    leaseMs: parsed.data.ANNEAL_LEASE_MS,
    groupStartMs: parsed.data.ANNEAL_GROUP_START_MS,
    trustedProxies: parsed.data.ANNEAL_TRUSTED_PROXIES,
    mlflowMirrorMs: parsed.data.ANNEAL_MLFLOW_MIRROR_MS,
    generateTimeoutMs: parsed.data.ANNEAL_GENERATE_TIMEOUT_MS,
    webhookBackoffMs: parsed.data.ANNEAL_WEBHOOK_BACKOFF_MS,
  };
}
