import type { Db } from '@anneal/db/client';
import { z } from 'zod';
import { findArtifact, listArtifacts, uploadArtifact } from '../../domain/artifacts/artifacts.ts';
import { defineRoute, type RestRoute } from '../../rest/route.ts';
import type { RunRow } from '../entities.ts';
import { MlflowError } from '../errors.ts';
import { runOf } from '../store.ts';
import { EDITOR, TAG, VIEWER } from './common.ts';

export const artifactRoutes: RestRoute[] = [
  // ---- the mlflow-artifacts proxy: run artifacts at <experiment_id>/<run_id>/artifacts/<path>
  defineRoute({
    method: 'PUT',
    path: '/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path*}',
    access: EDITOR,
    tag: TAG,
    summary: "mlflow-artifacts upload: one file into the run's artifacts",
    params: z.object({ experiment_id: z.string(), run_id: z.string(), path: z.string() }),
    body: 'stream',
    bodyTypes: ['application/octet-stream'],
    response: { status: 200, description: '{}' },
    handle: async (ctx, { params, body }) => {
      const run = await artifactRun(ctx.db, ctx.principal.orgId, params);
      await uploadArtifact(
        ctx.db,
        ctx.store,
        ctx.principal.orgId,
        run.id,
        params.path,
        body,
        ctx.config.uploadLimit,
      );
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path*}',
    access: VIEWER,
    tag: TAG,
    summary: "mlflow-artifacts download: one file of the run's artifacts",
    params: z.object({ experiment_id: z.string(), run_id: z.string(), path: z.string() }),
    response: { status: 200, description: 'The bytes', binary: true },
    handle: async (ctx, { params }) => {
      const run = await artifactRun(ctx.db, ctx.principal.orgId, params);
      const artifact = await findArtifact(ctx.db, ctx.principal.orgId, run.id, params.path);
      const { stream, size } = await ctx.store.open(artifact.sha256);
      return { stream, size, contentType: 'application/octet-stream' };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/mlflow-artifacts/artifacts',
    access: VIEWER,
    tag: TAG,
    summary: 'mlflow-artifacts list: the files and folders directly under a path',
    query: z.object({ path: z.string().optional() }),
    response: { status: 200, description: '{files}' },
    handle: async (ctx, { query }) => {
      const m = /^([^/]+)\/([^/]+)\/artifacts(?:\/(.*?))?\/?$/.exec(query.path ?? '');
      // Above a run's artifacts there is nothing to list: MLflow answers an empty folder.
      if (!m) return { json: {} };
      const run = await artifactRun(ctx.db, ctx.principal.orgId, {
        experiment_id: m[1] as string,
        run_id: m[2] as string,
      });
      const prefix = m[3] ? `${m[3]}/` : '';
      const files = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
      for (const a of await listArtifacts(ctx.db, ctx.principal.orgId, run.id)) {
        if (!a.path.startsWith(prefix)) {
          // A path naming one file lists that file, as MLflow's local store does.
          if (`${a.path}/` === prefix) {
            const name = a.path.split('/').pop() as string;
            files.set(name, { path: name, is_dir: false, file_size: a.size });
          }
          continue;
        }
        const rest = a.path.slice(prefix.length);
        const [first, ...more] = rest.split('/');
        if (!first) continue;
        files.set(
          first,
          more.length
            ? { path: first, is_dir: true }
            : { path: first, is_dir: false, file_size: a.size },
        );
      }
      return { json: files.size ? { files: [...files.values()] } : {} };
    },
  }),
];

/** The run of an artifact path, which must sit in the experiment the path names. */
async function artifactRun(
  db: Db,
  orgId: string,
  p: { experiment_id: string; run_id: string },
): Promise<RunRow> {
  const run = await runOf(db, orgId, p.run_id);
  if (run.projectId !== p.experiment_id)
    throw new MlflowError(
      'RESOURCE_DOES_NOT_EXIST',
      `run_id: run ${run.id} is not in experiment ${p.experiment_id}`,
    );
  return run;
}
