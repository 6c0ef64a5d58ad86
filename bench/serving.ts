// `npm run bench:serving`: what the deployment path costs over sampling in-process (issue 17's
// target: p50 overhead <= 15%). A real server on an embedded PostgreSQL, a real `anneal agent`
// whose `anneal serve` child keeps the model loaded, and REST generate requests (PNG), against
// the same requests on the same model loaded in this process (sample + PNG encode), alternated
// request by request so both see the same machine. One BLAS thread each: the two share cores.
//
//   npm run bench:serving -- [--model models/mnist-v-small] [--rounds 40]
//     [--cases ddim:10:1,ddim:20:1,ddim:20:8] [--results bench/results]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readResults, renderResults } from '@anneal/bench';
import { encodePng } from '@anneal/core/png';
import { Model } from '@anneal/engine';
import { createToken } from '../apps/web/src/server/domain/accounts/tokens.ts';
import { startAgent } from '../apps/web/src/server/testing/agent-process.ts';
import { startHarness } from '../apps/web/src/server/testing/harness.ts';
import { describeMachine } from '../packages/bench/src/machine.ts';
import { writeResult } from '../packages/bench/src/report.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist-v-small' },
    rounds: { type: 'string', default: '40' },
    cases: { type: 'string', default: 'ddim:10:1,ddim:20:1,ddim:20:8' },
    results: { type: 'string', default: 'bench/results' },
  },
});
const dir = resolve(values.model);
const rounds = Number(values.rounds);
const cases = values.cases.split(',').map((c) => {
  const [sampler, steps, n] = c.split(':');
  return { sampler: sampler as 'ddim', steps: Number(steps), n: Number(n) };
});
process.env.OPENBLAS_NUM_THREADS = '1';
process.env.OMP_NUM_THREADS = '1';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return (s[lo] as number) + ((s[Math.ceil(i)] as number) - (s[lo] as number)) * (i - lo);
};

const started = Date.now();
const machine = describeMachine(1);
const h = await startHarness({ ANNEAL_LEASE_MS: '5000' });
const home = mkdtempSync(join(tmpdir(), 'anneal-bench-serving-'));
const log: string[] = [];
const owner = await h.user('bench', 'owner');
const agent = startAgent({
  server: h.url,
  token: (await createToken(h.services.db, owner, 'agent', 'bench')).token,
  name: 'bench',
  home,
  log,
});
const call = async (method: string, path: string, body?: unknown, headers = {}) => {
  const r = await h.api(owner.token, method, path, body, headers);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
};
try {
  // The checkpoint goes in as a run's artifacts and a registered version, as a train job's does.
  const project = await call('POST', '/api/v1/projects', { name: 'bench' });
  const run = await call('POST', `/api/v1/projects/${project.id}/runs`, { name: 'teacher' });
  for (const file of ['config.json', 'model.safetensors'])
    await call(
      'PUT',
      `/api/v1/runs/${run.id}/artifacts/checkpoints/latest/${file}`,
      new Uint8Array(readFileSync(join(dir, file))),
      { 'content-type': 'application/octet-stream' },
    );
  await call('POST', `/api/v1/projects/${project.id}/models/teacher/versions`, {
    sourceRunId: run.id,
    artifactPath: 'checkpoints/latest/model.safetensors',
  });
  const deployment = await call('POST', `/api/v1/projects/${project.id}/deployments`, {
    name: 'bench',
    model: 'teacher',
    version: 1,
  });
  const deadline = Date.now() + 120_000;
  while ((await call('GET', `/api/v1/deployments/${deployment.id}`)).status !== 'serving') {
    if (Date.now() > deadline) throw new Error(`no replica ready:\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const model = Model.load(dir);
  const rows = [];
  for (const c of cases) {
    const inProcess: number[] = [];
    const served: number[] = [];
    const server: number[] = [];
    const child: number[] = [];
    // Warm-up: both paths once, untimed.
    for (let i = -2; i < rounds; i++) {
      const seed = 1000 + i;
      const t0 = performance.now();
      const r = await model.sample({ ...c, seed });
      const [n, hh, w, ch] = r.shape;
      for (let k = 0; k < n; k++)
        encodePng(r.images.subarray(k * hh * w * ch, (k + 1) * hh * w * ch), w, hh, ch as 1);
      const t1 = performance.now();
      const res = await fetch(`${h.url}/api/v1/deployments/${deployment.id}/generate/json`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...c, seed }),
      });
      const body = (await res.json()) as { latencyMs: number; generateMs: number };
      const t2 = performance.now();
      if (res.status !== 200) throw new Error(`generate: ${res.status} ${JSON.stringify(body)}`);
      if (i < 0) continue;
      inProcess.push(t1 - t0);
      served.push(t2 - t1);
      server.push(body.latencyMs);
      child.push(body.generateMs);
    }
    const p50 = quantile(inProcess, 0.5);
    const sp50 = quantile(served, 0.5);
    rows.push({
      ...c,
      in_process_ms: { p50, p95: quantile(inProcess, 0.95) },
      served_ms: { p50: sp50, p95: quantile(served, 0.95), p99: quantile(served, 0.99) },
      server_latency_p50_ms: quantile(server, 0.5),
      child_generate_p50_ms: quantile(child, 0.5),
      overhead_p50_ms: sp50 - p50,
      overhead_p50_ratio: sp50 / p50 - 1,
    });
    console.error(
      `${c.sampler} ${c.steps} steps n=${c.n}: in-process p50 ${p50.toFixed(1)} ms, served p50 ${sp50.toFixed(1)} ms (+${((sp50 / p50 - 1) * 100).toFixed(1)}%)`,
    );
  }
  model.dispose();
  const loadEnd = (await import('node:os')).loadavg().map((x) => Number(x.toFixed(2)));
  writeResult(resolve(values.results), {
    name: 'serving',
    machine,
    load_avg_end: loadEnd,
    seconds: (Date.now() - started) / 1000,
    options: { model: values.model, rounds, cases: values.cases, threads: 1 },
    result: { target_overhead_ratio: 0.15, rows },
  });
  const results = resolve(values.results);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(results, '..', 'RESULTS.md'), renderResults(readResults(results)));
} finally {
  await agent.stop();
  await h.stop();
  rmSync(home, { recursive: true, force: true });
}
