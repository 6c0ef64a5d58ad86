import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { describe, expect, it } from 'vitest';
import { CURVE_FILE, readCurve } from './curve.ts';
import { PLAN_FILE, readPlan } from './execute.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'anneal-plan-files-'));

describe.each([
  ['the quality curve', CURVE_FILE, readCurve, /anneal plan curve/],
  ['the plan', PLAN_FILE, readPlan, /anneal plan \.\.\. --save/],
])('reading %s', (_, file, read, remedy) => {
  it('is null when the file is absent', () => {
    expect(read(dir())).toBeNull();
  });

  it('names the file and the remedy when it is not JSON', () => {
    const d = dir();
    writeFileSync(join(d, file), '{"version": 1, "n": ');
    let err: unknown;
    try {
      read(d);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BAD_REQUEST');
    expect((err as Error).message).toContain(join(d, file));
    expect((err as Error).message).toMatch(/not valid JSON/);
    expect((err as Error).message).toMatch(remedy);
  });

  it('names the file and the field when it is JSON of another shape', () => {
    const d = dir();
    writeFileSync(join(d, file), '{"version": 2}');
    expect(() => read(d)).toThrow(new RegExp(`${join(d, file)}: version: .*; delete it`));
  });
});
