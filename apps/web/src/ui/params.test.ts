import { describe, expect, it } from 'vitest';
import { jobTitle, paramDisplay } from './params.ts';
import { defaultColumns, metricKeysOf, parseSavedColumns } from './run-columns.ts';

const ctx = {
  projectId: 'p1',
  datasetLabels: { 'abc12345-0000-4000-8000-000000000001': 'digits v2' },
};

describe('paramDisplay', () => {
  it('names a built-in dataset instead of showing its JSON', () => {
    expect(paramDisplay('{"kind":"builtin","name":"mnist"}', ctx)).toEqual({ text: 'mnist' });
    expect(paramDisplay('{"kind":"builtin","name":"shapes","options":{"count":500}}', ctx)).toEqual(
      { text: 'shapes (count 500)' },
    );
  });

  it('links a dataset version to its page, by its label when known', () => {
    expect(
      paramDisplay(
        '{"kind":"version","id":"ABC12345-0000-4000-8000-000000000001","hash":"00"}',
        ctx,
      ),
    ).toEqual({
      text: 'digits v2',
      href: '/projects/p1/datasets/abc12345-0000-4000-8000-000000000001',
    });
    expect(paramDisplay('{"kind":"version","id":"ffff0000-1111","hash":"00"}', ctx).text).toBe(
      'dataset version ffff0000',
    );
  });

  it('links only uuid ids: a local id (an import on an agent) has no page on the server', () => {
    expect(paramDisplay('{"kind":"version","id":"local-digits","hash":"00"}', ctx)).toEqual({
      text: 'dataset version local-di',
    });
    expect(paramDisplay('{"kind":"run","runId":"../../settings"}', ctx)).toEqual({
      text: 'run ../../se',
    });
  });

  it('links a run model source and reads plain values', () => {
    expect(
      paramDisplay('{"kind":"run","runId":"1234abcd-0000-4000-8000-000000000009"}', ctx),
    ).toEqual({
      text: 'run 1234abcd',
      href: '/projects/p1/runs/1234abcd-0000-4000-8000-000000000009',
    });
    expect(paramDisplay(2000, ctx).text).toBe('2,000');
    expect(paramDisplay(0.0003, ctx).text).toBe('3e-4');
    expect(paramDisplay(true, ctx).text).toBe('yes');
    expect(paramDisplay(null, ctx).text).toBe('—');
    expect(paramDisplay('heun', ctx).text).toBe('heun');
    expect(paramDisplay('{not json', ctx).text).toBe('{not json');
    expect(paramDisplay('{"a":1,"b":[2,3]}', ctx).text).toBe('a 1, b 2, 3');
  });
});

describe('jobTitle', () => {
  it('names a train job by dataset, preset and steps', () => {
    const t = jobTitle(
      'train',
      { dataset: { kind: 'builtin', name: 'mnist' }, preset: 'small', steps: 2000, batch: 64 },
      ctx,
    );
    expect(t.parts.map((p) => p.text)).toEqual(['train', 'mnist', 'small', '2,000 steps']);
  });

  it('names a sample job by its model, sampler, steps and image count', () => {
    const t = jobTitle(
      'sample',
      {
        model: { kind: 'run', runId: 'aaaabbbb-0000-4000-8000-000000000001' },
        sampler: 'heun',
        steps: 1,
        n: 16,
      },
      ctx,
    );
    expect(t.parts.map((p) => p.text)).toEqual([
      'sample',
      'from run aaaabbbb',
      'heun',
      '1 step',
      '16 images',
    ]);
    expect(t.parts[1]?.href).toBe('/projects/p1/runs/aaaabbbb-0000-4000-8000-000000000001');
  });
});

describe('run columns', () => {
  const train = {
    params: { job_type: 'train', steps: 100 },
    latest: { active_memory_bytes: 1, loss: 0.1, lr: 1e-4 },
  };
  const evaluate = {
    params: { job_type: 'evaluate', steps: 20 },
    latest: { accuracy: 0.9, fd: 3, fd_floor: 1, fd_ratio: 3, kid: 0.1, precision: 1, recall: 1 },
  };

  it('keeps loss when runs of several kinds are mixed', () => {
    const { metrics } = defaultColumns([train, evaluate, evaluate]);
    expect(metrics[0]).toBe('loss');
    expect(metrics).toHaveLength(5);
    // Alphabetical order (the old behaviour) would have shown accuracy, active_memory_bytes, fd, ...
    expect(metricKeysOf([evaluate, train]).indexOf('loss')).toBe(0);
  });

  it('offers the params that differ, not the job type', () => {
    expect(defaultColumns([train, evaluate]).params).toEqual(['steps']);
    expect(defaultColumns([train, train]).params).toEqual([]);
  });
});

describe('parseSavedColumns', () => {
  it('takes a saved choice and ignores anything else', () => {
    expect(parseSavedColumns('{"metrics":["loss"],"params":["lr"]}')).toEqual({
      metrics: ['loss'],
      params: ['lr'],
    });
    for (const bad of [null, '', '{not json', '"loss"', '{"metrics":"loss","params":[]}', '[]'])
      expect(parseSavedColumns(bad)).toBeNull();
  });
});
