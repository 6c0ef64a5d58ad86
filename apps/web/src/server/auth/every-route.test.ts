import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { MLFLOW_PREFIX } from '../mlflow/errors.ts';
import { mlflowRoutes } from '../mlflow/routes/index.ts';
import { REST_PREFIX } from '../rest/dispatch.ts';
import type { RestRoute } from '../rest/route.ts';
import { restRoutes } from '../rest/routes/index.ts';
import { appRouter } from '../routers/index.ts';
import { exampleOf } from '../testing/examples.ts';
import {
  type OrgIds,
  startWorld,
  stopWorld,
  subscribe,
  trpc,
  type World,
} from '../testing/world.ts';
import type { Access } from './access.ts';

// Every tRPC procedure and every REST route, read from their definitions, called by each
// caller that must be refused. A new procedure or route is in these tables the moment it
// exists; its access declaration is required by type, and its input is built from its own
// schemas, so nobody has to remember to add it here. (An input the builder cannot fill,
// such as a new kind of id, fails the test with the field's name.)

type Caller = 'no token' | 'revoked token' | 'agent token' | 'viewer' | 'editor' | 'other org';
const CALLERS: Caller[] = [
  'no token',
  'revoked token',
  'agent token',
  'viewer',
  'editor',
  'other org',
];

/** Fixture values by the field names schemas use; `where` is the procedure or route path. */
type Fixtures = (where: string) => Record<string, unknown>;

interface Operation {
  name: string;
  access: Access;
  /** Subscriptions are only called where a refusal is expected (see `subscribe`). */
  subscription: boolean;
  /** The fixture fields its input names, without calling it. */
  fields(fixtures: Fixtures): string[];
  /** Calls it as `token` with an input built from `fixtures`; `refersTo`: the fields named. */
  call(
    w: World,
    token: string | null,
    fixtures: Fixtures,
  ): Promise<{ status: number; json: any; refersTo: string[] }>;
}

/** An organization's ids, by the field names schemas give them. */
function fixturesOf(of: OrgIds): Fixtures {
  return (where) => ({
    projectId: of.projectId,
    runId: of.runId,
    parentRunId: of.runId,
    sourceRunId: of.runId,
    runIds: [of.runId, of.runId],
    datasetVersionId: of.datasetVersionId,
    // Model versions and dataset versions are both `versionId` in paths.
    versionId: /model/i.test(where) ? of.modelVersionId : of.datasetVersionId,
    sha256: of.fileSha256,
    jobId: of.jobId,
    deploymentId: of.deploymentId,
    alertId: of.alertId,
    pipelineId: of.pipelineId,
    pipelineRunId: of.pipelineRunId,
    tokenId: of.tokenId,
    userId: of.userId,
    job: { type: 'sample', spec: { model: { kind: 'modelVersion', id: of.modelVersionId } } },
    // A learned schedule: one step (the enum's first sampler, nfe 1) from sigma 1 to 0, its
    // held-out seed not its calibration seed (the leaves' first candidates would make both 1).
    ...(/schedules/.test(where)
      ? {
          sigmas: [1, 0],
          calibration: { n: 1, seed: 0, heldout_seed: 1, reference: { sampler: 'heun', steps: 2 } },
        }
      : {}),
    // A deployment names exactly one of a version and an alias.
    ...(/deployments/.test(where) ? { version: 1 } : {}),
    // A pipeline: one node that points the world's alias at the org's model version again (so
    // running it leaves org A as it was).
    ...(/pipelines/.test(where)
      ? {
          spec: {
            nodes: [
              {
                key: 'promote',
                kind: 'register',
                spec: { version_id: of.modelVersionId, alias: 'production' },
              },
            ],
          },
        }
      : {}),
    // MLflow's API names the same things its own way: experiments are projects.
    experiment_id: of.projectId,
    experiment_ids: [of.projectId],
    run_id: of.runId,
    source_run_id: of.runId,
    model_id: of.loggedModelId,
  });
}

function example(
  schema: z.ZodType | 'stream' | undefined,
  fixtures: Fixtures,
  where: string,
  used: Set<string>,
) {
  if (!schema || schema === 'stream') return undefined;
  const value = exampleOf(schema, fixtures(where), used);
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(`${where}: the built input does not validate (${parsed.error.message})`);
  return value;
}

type AnyProcedure = {
  _def: {
    type: 'query' | 'mutation' | 'subscription';
    meta?: { access?: Access };
    inputs: z.ZodType[];
  };
};

const procedures: Operation[] = Object.entries(
  appRouter._def.procedures as unknown as Record<string, AnyProcedure>,
).map(([path, procedure]) => {
  const def = procedure._def;
  if (!def.meta?.access) throw new Error(`tRPC ${path} declares no access`);
  const build = (fixtures: Fixtures, used: Set<string>) => {
    const parts = def.inputs.map((schema) => example(schema, fixtures, path, used));
    return parts.length ? Object.assign({}, ...parts) : undefined;
  };
  return {
    name: `tRPC ${path}`,
    access: def.meta.access,
    subscription: def.type === 'subscription',
    fields(fixtures) {
      const used = new Set<string>();
      build(fixtures, used);
      return [...used];
    },
    async call(w, token, fixtures) {
      const used = new Set<string>();
      const input = build(fixtures, used);
      const res =
        def.type === 'subscription'
          ? await subscribe(w, token, path, input)
          : await trpc(w, token, path, def.type, input);
      return { ...res, refersTo: [...used] };
    },
  };
});

function restOperation(route: RestRoute, prefix = REST_PREFIX): Operation {
  const build = (fixtures: Fixtures, used: Set<string>) => {
    const params = (example(route.params, fixtures, route.path, used) ?? {}) as Record<
      string,
      unknown
    >;
    const path = route.path.replace(/\{(\w+)(\*?)\}/g, (_, name: string, rest: string) =>
      rest ? String(params[name]) : encodeURIComponent(String(params[name])),
    );
    const query = new URLSearchParams(
      Object.entries((example(route.query, fixtures, route.path, used) ?? {}) as object).map(
        ([k, v]) => [k, String(v)],
      ),
    ).toString();
    return {
      url: `${prefix}${path}${query ? `?${query}` : ''}`,
      body: example(route.body, fixtures, route.path, used),
    };
  };
  return {
    name: `REST ${route.method} ${prefix}${route.path}`,
    access: route.access,
    subscription: false,
    fields(fixtures) {
      const used = new Set<string>();
      build(fixtures, used);
      return [...used];
    },
    async call(w, token, fixtures) {
      const used = new Set<string>();
      const { url, body } = build(fixtures, used);
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      // Uploads get a few bytes of their first content type: refusals come before reading them.
      headers['content-type'] =
        route.body === 'stream'
          ? (route.bodyTypes?.[0] ?? 'application/octet-stream')
          : 'application/json';
      const res = await fetch(`${w.h.url}${url}`, {
        method: route.method,
        headers,
        body: route.body === 'stream' ? 'x' : route.body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, json, refersTo: [...used] };
    },
  };
}

const operations = [
  ...procedures,
  ...restRoutes.map((r) => restOperation(r)),
  ...mlflowRoutes.map((r) => restOperation(r, MLFLOW_PREFIX)),
];

/** The status a caller must get, or null where it may be served (then: no 500, no leak). */
function expected(access: Access, caller: Caller, refersToOrgA: boolean): number | null {
  if (caller === 'revoked token') return 401;
  if (access === 'public') return null;
  switch (caller) {
    case 'no token':
      return 401;
    // No job leased to the agent uses any of org A's fixtures: refused whatever the grant.
    case 'agent token':
      return 403;
    case 'viewer':
      return access.role === 'viewer' ? null : 403;
    case 'editor':
      return access.role === 'owner' ? 403 : null;
    case 'other org':
      return refersToOrgA ? 404 : null;
  }
}

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 120_000);
afterAll(() => stopWorld(w));

function tokenOf(caller: Caller): string | null {
  return {
    'no token': null,
    'revoked token': w.revoked,
    'agent token': w.agent.token,
    viewer: w.viewer.token,
    editor: w.editor.token,
    'other org': w.b.token,
  }[caller];
}

describe('every procedure and route refuses who it must', () => {
  it('finds them all, each with its access declared', () => {
    expect(procedures.length).toBeGreaterThan(30);
    expect(restRoutes.length).toBeGreaterThan(20);
    expect(mlflowRoutes.length).toBeGreaterThan(25);
    for (const op of operations) expect(op.access, op.name).toBeDefined();
  });

  it.each(operations.flatMap((op) => CALLERS.map((caller) => [op.name, caller, op] as const)))(
    '%s with %s',
    async (_name, caller, op) => {
      // An allowed subscription streams on; only the refusals are called. An editor is called
      // only where refused: served, its writes would change the org A the other cases see.
      if ((op.subscription || caller === 'editor') && expected(op.access, caller, true) === null)
        return;
      const res = await op.call(w, tokenOf(caller), fixturesOf(w.ids));
      const want = expected(op.access, caller, res.refersTo.length > 0);
      const text = JSON.stringify(res.json);
      expect(res.status, text).toBeLessThan(500);
      if (want !== null) {
        expect(res.status, text).toBe(want);
        return;
      }
      // Served (the input named none of org A's ids): the answer names none either.
      if (caller === 'other org')
        for (const id of [...Object.values(w.ids), w.a.userId])
          expect(text.includes(id), `the answer names org A's ${id}`).toBe(false);
    },
  );

  it('left org A as it was', async () => {
    const a = w.a.token;
    expect((await w.h.api(a, 'GET', '/api/v1/projects')).json.projects).toHaveLength(1);
    expect((await w.h.api(a, 'GET', `/api/v1/runs/${w.ids.runId}`)).json.status).toBe('running');
    expect((await w.h.api(a, 'GET', `/api/v1/jobs/${w.ids.jobId}`)).json.status).toBe('queued');
    const model = await w.h.api(a, 'GET', `/api/v1/projects/${w.ids.projectId}/models/m`);
    expect(model.json.versions).toHaveLength(1);
    expect(model.json.versions[0].aliases).toEqual(['production']);
    const members = await trpc(w, a, 'members.list', 'query');
    expect(members.json.result.data.members.map((m: { role: string }) => m.role).sort()).toEqual([
      'editor',
      'owner',
      'viewer',
    ]);
    // The owner's API token, the revoked one, the agent's: none new, none newly revoked.
    const tokens = await trpc(w, a, 'tokens.list', 'query');
    expect(
      tokens.json.result.data
        .map((t: { kind: string; revokedAt: string | null }) => `${t.kind}:${t.revokedAt !== null}`)
        .sort(),
    ).toEqual(['agent:false', 'api:false', 'api:true']);
  });
});

const SHARED_FIXTURES = new Set(['sigmas', 'calibration', 'version']);

describe("every id in an input is resolved in the caller's organization", () => {
  // Org B's owner calls each operation with an input of org B's own ids but one, which is
  // org A's: whether it sits in the path, the query or the body, the answer is 404 naming
  // that id, as for an id that exists nowhere.
  it.each(operations.filter((op) => op.access !== 'public').map((op) => [op.name, op] as const))(
    '%s',
    async (_name, op) => {
      const own = fixturesOf(w.idsB);
      const foreign = fixturesOf(w.ids);
      for (const field of op.fields(own)) {
        // The fixtures both organizations share, a learned schedule's sigmas and calibration and
        // a deployment's version number,
        // name no id; any other field equal in both would be a fixture bug, not a reason to skip.
        if (SHARED_FIXTURES.has(field)) {
          expect(JSON.stringify(own(op.name)[field])).toBe(JSON.stringify(foreign(op.name)[field]));
          continue;
        }
        const mixed: Fixtures = (where) => ({
          ...own(where),
          [field]: field === 'runIds' ? [w.idsB.runId, w.ids.runId] : foreign(where)[field],
        });
        const res = await op.call(w, w.b.token, mixed);
        const text = JSON.stringify(res.json);
        expect(res.status, `${field}: ${text}`).toBe(404);
        const value = JSON.stringify(mixed(op.name)[field]);
        const id = Object.values(w.ids).find((v) => value.includes(v));
        expect(text, field).toContain(id);
      }
    },
  );
});
