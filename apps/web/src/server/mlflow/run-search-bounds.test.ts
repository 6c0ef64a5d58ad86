import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../testing/harness.ts';

// runs/search on input a client controls: page tokens, and how much work one search may do.

let h: Harness;
let token: string;
let experiment: string;

beforeAll(async () => {
  h = await startHarness();
  token = (await h.user('search-bounds', 'owner')).token;
  experiment = (await mlflow('experiments/create', { name: 'bounds' })).json.experiment_id;
  for (let i = 0; i < 5; i++)
    await mlflow('runs/create', { experiment_id: experiment, run_name: `r${i}` });
}, 120_000);
afterAll(() => h?.stop());

async function mlflow(path: string, body: unknown) {
  const res = await fetch(`${h.url}/api/2.0/mlflow/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

describe('page tokens', () => {
  it('answers INVALID_PARAMETER_VALUE for a token this server did not issue, never a 500', async () => {
    for (const forged of [b64('1e19'), b64('10000000000000000000'), b64('-1'), b64('1.5'), '!!']) {
      const got = await mlflow('runs/search', {
        experiment_ids: [experiment],
        max_results: 2,
        page_token: forged,
      });
      expect(got.status, forged).toBe(400);
      expect(got.json).toEqual({
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'page_token: not a token this server issued',
      });
    }
    // The tokens it issues still page through every run.
    const names: string[] = [];
    let pageToken: string | undefined;
    do {
      const got = await mlflow('runs/search', {
        experiment_ids: [experiment],
        max_results: 2,
        order_by: ['attributes.run_name'],
        ...(pageToken ? { page_token: pageToken } : {}),
      });
      expect(got.status).toBe(200);
      names.push(...got.json.runs.map((r: { info: { run_name: string } }) => r.info.run_name));
      pageToken = got.json.next_page_token;
    } while (pageToken);
    expect(names).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });
});
