import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const lease = {
  jobId: '11111111-1111-4111-8111-111111111111',
  leaseId: '22222222-2222-4222-8222-222222222222',
};

describe('journal', () => {
  it('keeps unacknowledged messages across a restart, in order, and survives a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-journal-'));
    dirs.push(dir);
    const path = join(dir, 'journal.jsonl');
    const a = new Journal(path);
    const m1 = a.append({
      type: 'job_metrics',
      ...lease,
      points: [{ key: 'loss', step: 1, value: 1 }],
    });
    const m2 = a.append({
      type: 'job_metrics',
      ...lease,
      points: [{ key: 'loss', step: 2, value: 0.5 }],
    });
    a.append({ type: 'job_complete', ...lease, summary: {} });
    a.ack(m1.ref);
    appendFileSync(path, '{"ref": 99, "mess');
    const b = new Journal(path);
    expect(b.pending().map((m) => m.type)).toEqual(['job_metrics', 'job_complete']);
    expect((b.pending()[0] as { ref: number }).ref).toBe(m2.ref);
    // New refs never reuse old ones: a late ack cannot drop a new message.
    expect(b.append({ type: 'job_accept', ...lease }).ref).toBeGreaterThan(m2.ref + 1);
  });
});
