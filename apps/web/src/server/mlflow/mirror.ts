import type { Db } from '@anneal/db/client';
import {
  artifacts,
  metrics,
  mlflowMirrorRuns,
  mlflowMirrors,
  mlflowMirrorVersions,
  modelAliases,
  modelVersions,
  projects,
  registeredModels,
  runs,
} from '@anneal/db/schema';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { BlobStore } from '../domain/artifacts/blob-store.ts';
import { paramString, RUN_STATUS_TO_MLFLOW } from './entities.ts';
import { fitEntries, mlflowKeyProblem, paramTagBatches } from './mirror-batches.ts';
import { MirrorError, MlflowRemote } from './mirror-remote.ts';
import { MLFLOW_LIMITS } from './routes/index.ts';

/** A pass that pushed the project but for runs MLflow refused (each recorded on its run). */
export class PartialPushError extends MirrorError {}

/** The mirror's clock and randomness, injected where tests need them. */
export interface MirrorClock {
  now(): number;
  random(): number;
}

type Mirror = typeof mlflowMirrors.$inferSelect;
type MirrorRun = typeof mlflowMirrorRuns.$inferSelect;
type MirrorVersion = typeof mlflowMirrorVersions.$inferSelect;

const chunk = <T>(list: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(list.length / size) }, (_, i) =>
    list.slice(i * size, i * size + size),
  );

const sameMap = (a: Record<string, string> | undefined, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b).sort());

/**
 * Pushes projects to their MLflow servers. A pass is a reconciliation, not a replay of
 * events: it compares what Anneal has with what the mirror tables say MLflow has, pushes the
 * difference and records each step as it lands. So a pass that stops (the server down, a
 * crash) leaves a true record, the next one resumes there, and nothing is sent twice; what a
 * lost answer makes it send again is found (runs and versions carry their Anneal ids as
 * tags) or is identical (MLflow keeps identical metric points once).
 */
export class MlflowMirror {
  private timer: NodeJS.Timeout | null = null;
  /** The scheduled round in progress; a tick that finds one skips. */
  private round: Promise<void> | null = null;
  /** Per project: the pass in flight, and the one pass queued behind it for every request since. */
  private readonly slots = new Map<
    string,
    { running: Promise<void> | null; queued: Promise<void> | null }
  >();
  /** Per project: failures in a row and when a scheduled pass may try again. */
  private readonly backoff = new Map<string, { failures: number; until: number }>();
  private readonly abort = new AbortController();
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    private readonly clock: MirrorClock = {
      now: () => Date.now(),
      random: () => Math.random(),
    },
    private readonly backoffMs: { base: number; max: number } = {
      base: 30_000,
      max: 30 * 60_000,
    },
  ) {}

  /** A scheduled round every `intervalMs`; a tick while the last round runs is skipped. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      void this.tick();
    }, intervalMs);
    this.timer.unref();
  }

  /** One scheduled round, unless one is running (then that one). */
  tick(): Promise<void> {
    this.round ??= this.syncAll({ scheduled: true }).finally(() => {
      this.round = null;
    });
    return this.round;
  }

  /** Stops the timer, aborts the requests in flight, and waits for the passes to record. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    const pending = [this.round, ...[...this.slots.values()].flatMap((s) => [s.running, s.queued])];
    await Promise.allSettled(pending.filter(Boolean));
  }

  /**
   * A pass for every mirror, one after another. A scheduled round skips the mirrors in
   * backoff after failures; an explicit call (tests, admin) does not.
   */
  async syncAll(opts: { scheduled?: boolean } = {}): Promise<void> {
    const all = await this.db.select({ projectId: mlflowMirrors.projectId }).from(mlflowMirrors);
    for (const { projectId } of all) {
      if (this.closed) return;
      if (opts.scheduled && (this.backoff.get(projectId)?.until ?? 0) > this.clock.now()) continue;
      await this.sync(projectId);
    }
  }

  /**
   * A pass for one project that starts after any pass of that project in flight, and only
   * that one: other projects' passes do not delay it. Requests made while a pass runs share
   * one pass queued behind it. Resolves when the pass has recorded its outcome.
   */
  sync(projectId: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    let slot = this.slots.get(projectId);
    if (!slot) {
      slot = { running: null, queued: null };
      this.slots.set(projectId, slot);
    }
    const s = slot;
    if (!s.running) return this.begin(projectId, s);
    s.queued ??= s.running.then(() => {
      s.queued = null;
      return this.closed ? undefined : this.begin(projectId, s);
    });
    return s.queued;
  }

  private begin(
    projectId: string,
    s: { running: Promise<void> | null; queued: Promise<void> | null },
  ): Promise<void> {
    const run: Promise<void> = (async () => {
      const [m] = await this.db
        .select()
        .from(mlflowMirrors)
        .where(eq(mlflowMirrors.projectId, projectId));
      if (m) await this.pass(m);
    })()
      .catch((err) => console.error('[anneal-server] MLflow mirror', err))
      .finally(() => {
        if (s.running === run) s.running = null;
        if (!s.running && !s.queued) this.slots.delete(projectId);
      });
    s.running = run;
    return run;
  }

  /** Failures in a row double the wait (jittered to half..all of it); a success resets it. */
  private note(projectId: string, failed: boolean): void {
    if (!failed) {
      this.backoff.delete(projectId);
      return;
    }
    const failures = (this.backoff.get(projectId)?.failures ?? 0) + 1;
    const wait = Math.min(this.backoffMs.max, this.backoffMs.base * 2 ** (failures - 1));
    this.backoff.set(projectId, {
      failures,
      until: this.clock.now() + wait * (0.5 + this.clock.random() / 2),
    });
  }

  private async pass(m: Mirror): Promise<void> {
    let error: string | null = null;
    try {
      await this.push(m);
      this.note(m.projectId, false);
    } catch (err) {
      if (!(err instanceof MirrorError)) console.error('[anneal-server] MLflow mirror', err);
      error =
        err instanceof MirrorError ? err.message : `internal error: ${(err as Error).message}`;
      // Refused runs alone are no reason to wait: the rest of the project went through.
      this.note(m.projectId, !(err instanceof PartialPushError));
    }
    await this.db
      .update(mlflowMirrors)
      .set({ lastError: error, ...(error ? {} : { lastSyncAt: new Date() }) })
      .where(eq(mlflowMirrors.projectId, m.projectId));
  }

  private async push(m: Mirror): Promise<void> {
    const remote = new MlflowRemote(m.url, m.token, this.abort.signal);
    const [project] = await this.db.select().from(projects).where(eq(projects.id, m.projectId));
    // A project deleted through MLflow is not mirrored until it is restored.
    if (!project || project.deletedAt) return;
    const experimentId = m.experimentId ?? (await this.experiment(remote, m, project.name));
    const projectRuns = await this.db
      .select()
      .from(runs)
      // Runs deleted through MLflow are not pushed (one pushed before its delete stays there).
      .where(and(eq(runs.projectId, m.projectId), isNull(runs.deletedAt)))
      .orderBy(asc(runs.startedAt), asc(runs.id));
    const mapped = new Map<string, MirrorRun>();
    const refused: string[] = [];
    for (const run of projectRuns) {
      try {
        mapped.set(run.id, await this.pushRun(remote, experimentId, run));
      } catch (err) {
        // One refused write (a param changed after it was pushed, which MLflow forbids) must
        // not stop the project's mirror: record it on the run and go on with the others.
        if (!(err instanceof MirrorError && err.refused)) throw err;
        refused.push(`run ${run.id}: ${err.message}`);
        await this.db
          .update(mlflowMirrorRuns)
          .set({
            pushed: sql`${mlflowMirrorRuns.pushed} || ${JSON.stringify({ error: err.message })}::jsonb`,
          })
          .where(eq(mlflowMirrorRuns.runId, run.id));
        const [state] = await this.db
          .select()
          .from(mlflowMirrorRuns)
          .where(eq(mlflowMirrorRuns.runId, run.id));
        if (state) mapped.set(run.id, state);
      }
    }
    await this.pushVersions(remote, m.projectId, mapped);
    if (refused.length > 0)
      throw new PartialPushError(
        `MLflow refused ${refused.length} of ${projectRuns.length} runs (the others are pushed): ${refused.slice(0, 3).join('; ')}${refused.length > 3 ? '; ...' : ''}`,
      );
  }

  private async experiment(remote: MlflowRemote, m: Mirror, name: string): Promise<string> {
    let id: string;
    try {
      const found = await remote.call<{ experiment: { experiment_id: string } }>(
        'GET',
        'experiments/get-by-name',
        { experiment_name: name },
      );
      id = found.experiment.experiment_id;
    } catch (err) {
      if (!(err instanceof MirrorError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST')) throw err;
      id = (
        await remote.call<{ experiment_id: string }>('POST', 'experiments/create', {
          name,
          tags: [{ key: 'anneal.project_id', value: m.projectId }],
        })
      ).experiment_id;
    }
    await this.db
      .update(mlflowMirrors)
      .set({ experimentId: id })
      .where(eq(mlflowMirrors.projectId, m.projectId));
    return id;
  }

  private async pushRun(
    remote: MlflowRemote,
    experimentId: string,
    run: typeof runs.$inferSelect,
  ): Promise<MirrorRun> {
    let [state] = await this.db
      .select()
      .from(mlflowMirrorRuns)
      .where(eq(mlflowMirrorRuns.runId, run.id));
    if (!state) {
      // A create whose answer was lost left a run tagged with our id: find it before creating.
      type RunInfo = { info: { run_id: string; artifact_uri: string } };
      const found = await remote.call<{ runs?: RunInfo[] }>('POST', 'runs/search', {
        experiment_ids: [experimentId],
        filter: `tags.\`anneal.run_id\` = '${run.id}'`,
        max_results: 1,
      });
      const info =
        found.runs?.[0]?.info ??
        (
          await remote.call<{ run: RunInfo }>('POST', 'runs/create', {
            experiment_id: experimentId,
            run_name: run.name,
            start_time: run.startedAt.getTime(),
            tags: [
              { key: 'anneal.run_id', value: run.id },
              { key: 'mlflow.runName', value: run.name },
            ],
          })
        ).run.info;
      [state] = await this.db
        .insert(mlflowMirrorRuns)
        .values({ runId: run.id, remoteRunId: info.run_id, remoteArtifactUri: info.artifact_uri })
        .returning();
      if (!state) throw new MirrorError(`could not record the mirror of run ${run.id}`);
    }
    const rid = state.remoteRunId;
    const record = async (set: Partial<MirrorRun>) => {
      await this.db.update(mlflowMirrorRuns).set(set).where(eq(mlflowMirrorRuns.runId, run.id));
      state = { ...(state as MirrorRun), ...set };
    };

    // Params and tags: only when they changed since the last push.
    const params = Object.fromEntries(
      Object.entries(run.params).map(([k, v]) => [k, paramString(v)]),
    );
    const tags = { ...run.tags, 'anneal.run_id': run.id };
    if (!sameMap(state.pushed.params, params) || !sameMap(state.pushed.tags, tags)) {
      const entries = (o: Record<string, string>) =>
        Object.entries(o).map(([key, value]) => ({ key, value }));
      const p = fitEntries(entries(params), MLFLOW_LIMITS.paramValueLength).kept;
      const t = fitEntries(entries(tags), MLFLOW_LIMITS.tagValueLength).kept;
      for (const batch of paramTagBatches(p, t))
        await remote.call('POST', 'runs/log-batch', { run_id: rid, ...batch });
      await record({ pushed: { ...state.pushed, params, tags } });
    }

    // Metrics: the points past each key's recorded step, 1000 to a batch, recorded per batch.
    const points = await this.db
      .select({ key: metrics.key, step: metrics.step, value: metrics.value, time: metrics.time })
      .from(metrics)
      .where(eq(metrics.runId, run.id))
      .orderBy(asc(metrics.key), asc(metrics.step));
    // A key MLflow would refuse is left out rather than failing every batch it is in.
    const fresh = points.filter(
      (p) => p.step > (state?.metricSteps[p.key] ?? -1) && mlflowKeyProblem(p.key) === null,
    );
    for (const batch of chunk(fresh, MLFLOW_LIMITS.metricsPerBatch)) {
      await remote.call('POST', 'runs/log-batch', {
        run_id: rid,
        metrics: batch.map((p) => ({
          key: p.key,
          value: p.value,
          timestamp: p.time.getTime(),
          step: p.step,
        })),
      });
      const steps = { ...state.metricSteps };
      for (const p of batch) steps[p.key] = Math.max(steps[p.key] ?? -1, p.step);
      await record({ metricSteps: steps });
    }

    // Sample images (not checkpoints): each path once per content.
    const images = await this.db
      .select()
      .from(artifacts)
      .where(eq(artifacts.runId, run.id))
      .orderBy(asc(artifacts.path));
    for (const a of images) {
      if (!a.contentType.startsWith('image/') || state.artifacts[a.path] === a.sha256) continue;
      const url = remote.artifactUrl(state.remoteArtifactUri, a.path);
      if (!url) break;
      const { stream } = await this.store.open(a.sha256);
      const parts: Buffer[] = [];
      for await (const part of stream as AsyncIterable<Buffer>) parts.push(part);
      await remote.put(url, Buffer.concat(parts), a.contentType, a.path);
      await record({ artifacts: { ...state.artifacts, [a.path]: a.sha256 } });
    }

    // Status last, so a FINISHED run in MLflow has everything.
    if (state.pushed.status !== run.status) {
      await remote.call('POST', 'runs/update', {
        run_id: rid,
        status: RUN_STATUS_TO_MLFLOW[run.status],
        ...(run.endedAt ? { end_time: run.endedAt.getTime() } : {}),
      });
      await record({ pushed: { ...state.pushed, status: run.status } });
    }
    if (state.pushed.error) {
      const { error: _, ...pushed } = state.pushed;
      await record({ pushed });
    }
    return state;
  }

  private async pushVersions(
    remote: MlflowRemote,
    projectId: string,
    mapped: Map<string, MirrorRun>,
  ): Promise<void> {
    const versions = await this.db
      .select({ v: modelVersions, name: registeredModels.name })
      .from(modelVersions)
      .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
      .where(eq(registeredModels.projectId, projectId))
      .orderBy(asc(registeredModels.name), asc(modelVersions.version));
    const models = new Set<string>();
    const mirrored: MirrorVersion[] = [];
    const names = new Map<string, string>();
    for (const { v, name } of versions) {
      const run = v.sourceRunId ? mapped.get(v.sourceRunId) : undefined;
      if (!run) continue;
      let [state] = await this.db
        .select()
        .from(mlflowMirrorVersions)
        .where(eq(mlflowMirrorVersions.versionId, v.id));
      if (!state) {
        if (!models.has(name)) {
          try {
            await remote.call('POST', 'registered-models/create', { name });
          } catch (err) {
            if (!(err instanceof MirrorError && err.errorCode === 'RESOURCE_ALREADY_EXISTS'))
              throw err;
          }
          models.add(name);
        }
        type Version = { version: string; tags?: { key: string; value: string }[] };
        const listed = await remote.call<{ model_versions?: Version[] }>(
          'GET',
          'model-versions/search',
          { filter: `name = '${name}'`, max_results: 10_000 },
        );
        const existing = listed.model_versions?.find((x) =>
          x.tags?.some((t) => t.key === 'anneal.version_id' && t.value === v.id),
        );
        const source = v.artifactPath
          ? `${run.remoteArtifactUri}/${v.artifactPath}`
          : run.remoteArtifactUri;
        const created =
          existing ??
          (
            await remote.call<{ model_version: Version }>('POST', 'model-versions/create', {
              name,
              source,
              run_id: run.remoteRunId,
              description: v.description,
              tags: metadataTags(v),
            })
          ).model_version;
        [state] = await this.db
          .insert(mlflowMirrorVersions)
          .values({ versionId: v.id, remoteVersion: created.version })
          .returning();
        if (!state) throw new MirrorError(`could not record the mirror of version ${v.id}`);
      }
      mirrored.push(state);
      names.set(state.versionId, name);
    }
    for (const name of new Set(names.values()))
      await this.pushAliases(
        remote,
        name,
        mirrored.filter((m) => names.get(m.versionId) === name),
      );
  }

  /**
   * Makes MLflow's aliases of one model what Anneal's are: per alias, the version it points
   * at. The mirror rows record, per version, the aliases last pushed to it, so what MLflow
   * has is read back from them; an alias that moved (v1 -> v2 -> v1) is set again, one that
   * Anneal removed is deleted there. Each step is recorded as it lands.
   */
  private async pushAliases(remote: MlflowRemote, name: string, mirrored: MirrorVersion[]) {
    const byId = new Map(mirrored.map((m) => [m.versionId, m]));
    const want = new Map<string, MirrorVersion>();
    if (mirrored.length > 0)
      for (const a of await this.db
        .select({ alias: modelAliases.alias, versionId: modelAliases.versionId })
        .from(modelAliases)
        .where(inArray(modelAliases.versionId, [...byId.keys()]))) {
        const m = byId.get(a.versionId);
        if (m) want.set(a.alias, m);
      }
    // An alias recorded on two versions (by passes before this reconciliation) is unknown.
    const had = new Map<string, string | null>();
    for (const m of mirrored)
      for (const a of m.aliases) had.set(a, had.has(a) ? null : m.versionId);
    const lists = new Map(mirrored.map((m) => [m.versionId, new Set(m.aliases)]));
    const record = async (alias: string, to: string | null) => {
      for (const [versionId, list] of lists) {
        const before = list.has(alias);
        if (versionId === to) list.add(alias);
        else list.delete(alias);
        if (before !== list.has(alias))
          await this.db
            .update(mlflowMirrorVersions)
            .set({ aliases: [...list] })
            .where(eq(mlflowMirrorVersions.versionId, versionId));
      }
    };
    for (const [alias, m] of want) {
      if (had.get(alias) === m.versionId) continue;
      await remote.call('POST', 'registered-models/alias', {
        name,
        alias,
        version: m.remoteVersion,
      });
      await record(alias, m.versionId);
    }
    for (const alias of had.keys()) {
      if (want.has(alias)) continue;
      try {
        await remote.call('DELETE', 'registered-models/alias', { name, alias });
      } catch (err) {
        if (!(err instanceof MirrorError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST')) throw err;
      }
      await record(alias, null);
    }
  }
}

/** A version's optimization metadata as MLflow model version tags. */
function metadataTags(v: typeof modelVersions.$inferSelect) {
  const md = v.metadata;
  const tags: Record<string, string> = { 'anneal.version_id': v.id };
  if (md.sampler) tags['anneal.sampler'] = md.sampler;
  if (md.nfe !== undefined) tags['anneal.nfe'] = String(md.nfe);
  if (md.steps !== undefined) tags['anneal.steps'] = String(md.steps);
  if (md.distillationStages?.length)
    tags['anneal.distillation_stages'] = md.distillationStages.join(',');
  for (const [k, value] of Object.entries(md.quality ?? {}))
    tags[`anneal.quality.${k}`] = String(value);
  if (md.architecture)
    tags['anneal.architecture'] = JSON.stringify(md.architecture).slice(0, 100_000);
  if (md.hardware) tags['anneal.hardware'] = JSON.stringify(md.hardware).slice(0, 100_000);
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}
