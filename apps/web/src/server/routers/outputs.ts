import { ROLES } from '@anneal/db/schema';
import { learnedScheduleSchema, qualityCurveSchema } from '@anneal/engine/config';
import {
  agentBenchmarkSchema,
  distillationRecordSchema,
  evaluationRecordSchema,
  planRecordSchema,
  searchRecordSchema,
} from '@anneal/protocol';
import { z } from 'zod';
import { uploadReportSchema } from '../domain/datasets/versions.ts';

// What procedures return, declared once so the client's types and the wire agree.
const paramValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const runStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);

export const projectSummary = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.date(),
  runCount: z.number(),
  modelCount: z.number(),
  datasetCount: z.number(),
  lastRunAt: z.union([z.string(), z.date()]).nullable(),
});

export const runRow = z.object({
  id: z.string(),
  name: z.string(),
  status: runStatus,
  params: z.record(z.string(), paramValue),
  tags: z.record(z.string(), z.string()),
  parentRunId: z.string().nullable(),
  startedAt: z.date(),
  endedAt: z.date().nullable(),
  /** The kind of the job that created the run; null for runs logged by scripts. */
  kind: z.string().nullable(),
  datasetVersionId: z.string().nullable(),
  /** "digits v2" when the run used a stored dataset version. */
  datasetLabel: z.string().nullable(),
  latest: z.record(z.string(), z.number()),
});

export const artifactRow = z.object({
  path: z.string(),
  sha256: z.string(),
  size: z.number(),
  contentType: z.string(),
  createdAt: z.date(),
});

export const runDetail = runRow.omit({ latest: true }).extend({
  projectId: z.string(),
  datasetVersionId: z.string().nullable(),
  datasetBuiltin: z.string().nullable(),
  jobId: z.string().nullable(),
  createdBy: z.string().nullable(),
  /** Deleted through MLflow: hidden from lists, restorable from its page. */
  deletedAt: z.date().nullable(),
  artifacts: z.array(artifactRow),
  /** MLflow 3 logged models this run made (their files: its artifacts under logged-models/). */
  loggedModels: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      status: z.string(),
      artifactCount: z.number(),
      createdAt: z.date(),
    }),
  ),
});

export const metricSeries = z.object({
  key: z.string(),
  points: z.array(z.object({ step: z.number(), value: z.number(), time: z.string() })),
});

export const logLine = z.object({ seq: z.number(), line: z.string(), time: z.date() });

export const comparison = z.object({
  runs: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      status: runStatus,
      params: z.record(z.string(), paramValue),
      startedAt: z.date(),
      datasetVersionId: z.string().nullable(),
      /** "digits v2" when the run used a stored dataset version (its params name it by id). */
      datasetLabel: z.string().nullable(),
      metrics: z.array(metricSeries),
    }),
  ),
  differing: z.array(z.string()),
  allKeys: z.array(z.string()),
});

const versionSummary = z.object({
  id: z.string(),
  version: z.number(),
  contentHash: z.string(),
  fileCount: z.number(),
  sizeBytes: z.number(),
  heldoutCount: z.number(),
  dvcMd5: z.string(),
  createdAt: z.date(),
});

export const datasetList = z.object({
  builtin: z.array(
    z.object({
      builtin: z.enum(['mnist', 'shapes']),
      name: z.string(),
      description: z.string(),
      fileCount: z.number().nullable(),
      labels: z.array(z.string()),
      resolution: z.string(),
    }),
  ),
  stored: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      createdAt: z.date(),
      versions: z.array(versionSummary),
    }),
  ),
});

/** A version for its page: counts and thumbnails per label and its first files, no manifest. */
export const datasetVersionPage = versionSummary.extend({
  datasetId: z.string(),
  datasetName: z.string(),
  projectId: z.string(),
  classes: z.array(z.string()),
  fit: z.string(),
  labels: z.array(
    z.object({
      label: z.string(),
      train: z.number(),
      heldOut: z.number(),
      samples: z.array(z.object({ relpath: z.string(), sha256: z.string(), heldOut: z.boolean() })),
    }),
  ),
  /** The first PAGE_FILE_LIMIT files of the manifest, in its order. */
  files: z.array(
    z.object({
      relpath: z.string(),
      sha256: z.string(),
      label: z.number().nullable(),
      size: z.number(),
      heldOut: z.boolean(),
    }),
  ),
  /** What the upload imported and left out; null for versions made before it was kept. */
  uploadReport: uploadReportSchema.nullable(),
});

export const modelSummary = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.date(),
  latestVersion: z.number().nullable(),
  aliases: z.array(z.object({ alias: z.string(), version: z.number() })),
});

const metadata = z.object({
  architecture: z.record(z.string(), z.unknown()).optional(),
  steps: z.number().optional(),
  nfe: z.number().optional(),
  sampler: z.string().optional(),
  distillationStages: z.array(z.string()).optional(),
  quality: z.record(z.string(), z.number()).optional(),
  hardware: z.record(z.string(), z.unknown()).optional(),
  evaluations: z.array(evaluationRecordSchema).optional(),
  /** A distilled student's teacher and stage (set by its distill job). */
  distillation: distillationRecordSchema.optional(),
  /** A search winner's teacher, hardware profile and measurements (set by its search job). */
  search: searchRecordSchema.optional(),
  /** Plan jobs' plans per hardware profile, and the quality curve they measured. */
  plans: z.record(z.string(), planRecordSchema).optional(),
  qualityCurve: qualityCurveSchema.optional(),
  /** Learned sampling schedules (anneal schedule learn), one per sampler and NFE. */
  schedules: z.array(learnedScheduleSchema).optional(),
});

export const modelDetail = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.date(),
  versions: z.array(
    z.object({
      id: z.string(),
      version: z.number(),
      description: z.string(),
      metadata,
      artifactPath: z.string().nullable(),
      createdAt: z.date(),
      sourceRun: z.object({ id: z.string(), name: z.string(), status: runStatus }).nullable(),
      datasetVersion: z
        .object({
          id: z.string(),
          version: z.number(),
          contentHash: z.string(),
          datasetName: z.string(),
        })
        .nullable(),
      aliases: z.array(z.string()),
    }),
  ),
});

export const memberList = z.object({
  members: z.array(
    z.object({
      userId: z.string(),
      email: z.string(),
      name: z.string(),
      role: z.enum(ROLES),
      since: z.date(),
    }),
  ),
  invites: z.array(
    z.object({ id: z.string(), email: z.string(), role: z.enum(ROLES), expiresAt: z.date() }),
  ),
});

export const tokenRow = z.object({
  id: z.string(),
  kind: z.enum(['api', 'agent']),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
});

export const agentRow = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  hardware: z.record(z.string(), z.unknown()),
  lastSeenAt: z.date().nullable(),
  /** Connected to this server process now. */
  online: z.boolean(),
  currentJob: z.object({ id: z.string(), projectId: z.string(), type: z.string() }).nullable(),
  /** The last bench job this agent ran. */
  benchmark: agentBenchmarkSchema.nullable(),
});

const runLink = z.object({
  id: z.string(),
  name: z.string(),
  status: runStatus,
  projectId: z.string(),
});

/** Where a run's checkpoint came from, and what was made from its own. */
export const runLineage = z.object({
  source: runLink.nullable(),
  modelVersion: z
    .object({ id: z.string(), modelName: z.string(), version: z.number(), projectId: z.string() })
    .nullable(),
  children: z.array(runLink.extend({ jobType: z.string().nullable(), startedAt: z.date() })),
  /** Versions registered from this run, with the checkpoint each points at in its artifacts. */
  versions: z.array(
    z.object({
      id: z.string(),
      modelName: z.string(),
      version: z.number(),
      projectId: z.string(),
      artifactPath: z.string().nullable(),
    }),
  ),
});

/** The job a run was made by: what it is, and why it failed when it did. */
export const runJob = z
  .object({
    id: z.string(),
    type: z.string(),
    status: z.string(),
    error: z.string().nullable(),
    attempts: z.number(),
    maxAttempts: z.number(),
  })
  .nullable();

/** A data-parallel run's group, attempt by attempt, newest first (null: one agent). */
export const runGroup = z
  .object({
    ranks: z.number(),
    attempts: z.array(
      z.object({
        attempt: z.number(),
        members: z.array(
          z.object({
            rank: z.number(),
            agentId: z.string().nullable(),
            agent: z.string().nullable(),
            address: z.string().nullable(),
            leasedAt: z.date(),
            readyAt: z.date().nullable(),
            finishedAt: z.date().nullable(),
          }),
        ),
      }),
    ),
  })
  .nullable();
