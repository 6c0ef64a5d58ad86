// Every native binding turns a bad call into a catchable Error with a stable code, and the
// process lives on (issue 10, item 7). The calls run in a child process: a C++ exception that
// escapes N-API aborts the process (exit 134), and in vitest's own worker that would end the
// run instead of failing one case. The child prints each case before and after calling it, so
// an abort is reported against the case that caused it and the rest run in a fresh child.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '@anneal/core/errors';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromNativeError, nativeErrorCode } from './native.ts';
import { CASES } from './native-errors.cases.ts';

const require = createRequire(import.meta.url);
const child = fileURLToPath(new URL('./native-errors.child.ts', import.meta.url));
const tsx = require.resolve('tsx');

interface Outcome {
  mode: 'sync' | 'async';
  threw: boolean;
  isError?: boolean;
  ctor?: string;
  code?: string | null;
  message?: string;
}

const outcomes = new Map<number, Outcome>();
const crashes = new Map<number, string>();
let alive = false;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-native-errors-'));
  let start = 0;
  while (start < CASES.length) {
    const r = spawnSync(
      process.execPath,
      ['--import', tsx, child, join(dir, `run-${start}`), String(start)],
      {
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    let running = -1;
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const msg = JSON.parse(line) as { start?: number; result?: number; alive?: number[] };
      if (msg.start !== undefined) running = msg.start;
      if (msg.result !== undefined) {
        outcomes.set(msg.result, msg as unknown as Outcome);
        running = -1;
      }
      if (msg.alive) alive = msg.alive[0] === 11;
    }
    if (r.status === 0 && !r.signal) break;
    if (running < 0) {
      throw new Error(
        `the child failed outside any case (${r.signal ?? r.status}): ${r.stderr.slice(-2000)}`,
      );
    }
    crashes.set(
      running,
      `${r.signal ?? `exit ${r.status}`}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
    start = running + 1;
  }
}, 600_000);

describe('native bindings refuse bad calls with a coded Error', () => {
  it.each(CASES.map((c, i) => [c.name, i] as const))('%s', (_, i) => {
    const c = CASES[i];
    if (!c) throw new Error(`no case ${i}`);
    expect(crashes.get(i), 'the call killed the process').toBeUndefined();
    const o = outcomes.get(i);
    expect(o, 'no result reported').toBeDefined();
    expect(o).toMatchObject({ mode: c.mode, threw: true, isError: true, code: c.code });
    expect(o?.message).toMatch(c.message);
  });

  it('leaves the process working after every case', () => {
    expect([...crashes.entries()]).toEqual([]);
    expect(alive).toBe(true);
  });
});

describe('fromNativeError', () => {
  it('maps a native code to an AppError and keeps the native error as its cause', () => {
    const native = Object.assign(new Error('no such dataset shard: /x'), {
      code: 'ANNEAL_NOT_FOUND',
    });
    expect(nativeErrorCode(native)).toBe('ANNEAL_NOT_FOUND');
    const app = fromNativeError(native, 'loading');
    expect(app).toBeInstanceOf(AppError);
    expect(app).toMatchObject({ code: 'INTERNAL', message: 'loading: no such dataset shard: /x' });
    expect(nativeErrorCode(app.cause)).toBe('ANNEAL_NOT_FOUND');
  });

  it('reads each native code as the AppError code that says whether a retry can help', () => {
    const appCode = (code: string) =>
      (fromNativeError(Object.assign(new Error('x'), { code })) as AppError).code;
    // Files are mostly the agent's own (cache, download, output): retried (INTERNAL).
    expect(appCode('ANNEAL_NOT_FOUND')).toBe('INTERNAL');
    expect(appCode('ANNEAL_IO')).toBe('INTERNAL');
    // Exact training diverges again with the same spec: the spec has to change.
    expect(appCode('ANNEAL_DIVERGED')).toBe('BAD_REQUEST');
    expect(appCode('ANNEAL_INVALID_ARGUMENT')).toBe('BAD_REQUEST');
    expect(appCode('ANNEAL_MEMORY_BUDGET')).toBe('RESOURCE_EXHAUSTED');
    expect(appCode('ANNEAL_OUT_OF_MEMORY')).toBe('RESOURCE_EXHAUSTED');
    expect(appCode('ANNEAL_INVALID_STATE')).toBe('PRECONDITION_FAILED');
    expect(appCode('ANNEAL_INTERNAL')).toBe('INTERNAL');
  });

  it('names lr and grad_clip when training diverged', () => {
    const diverged = Object.assign(new Error('training diverged at step 3'), {
      code: 'ANNEAL_DIVERGED',
    });
    expect(fromNativeError(diverged).message).toMatch(
      /^training diverged at step 3; .*\(lr\).*\(grad_clip\)/,
    );
  });

  it('passes other errors through', () => {
    const plain = new Error('boom');
    expect(nativeErrorCode(plain)).toBeUndefined();
    expect(fromNativeError(plain)).toBe(plain);
    expect(nativeErrorCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBeUndefined();
  });
});
