import { describe, expect, it } from 'vitest';
import { formatDuration, phaseProgress } from './progress.ts';

describe('phaseProgress', () => {
  it('logs a phase at its start, at most once per interval, and at its end', () => {
    let t = 0;
    const lines: string[] = [];
    const p = phaseProgress(() => {}, false, {
      line: (l) => lines.push(l),
      everyMs: 60_000,
      now: () => t,
    });
    p.update('training', 0, 100);
    for (let i = 1; i < 100; i++) {
      t += 1_000;
      p.update('training', i, 100);
    }
    t += 1_000;
    p.update('training', 100, 100);
    // 0 at 0 s, 60 at 60 s (40 left at 1 step/s: 40 s), 100 at 100 s.
    expect(lines).toEqual([
      'training: 0/100 00:00<--:--',
      'training: 60/100 01:00<00:40',
      'training: 100/100 01:40<00:00',
    ]);
  });

  it('counts a resumed phase from where it began, and starts over on a new phase', () => {
    let t = 0;
    const lines: string[] = [];
    const p = phaseProgress(() => {}, false, {
      line: (l) => lines.push(l),
      everyMs: 10,
      now: () => t,
    });
    p.update('rung 1', 50, 100);
    t = 10_000;
    p.update('rung 1', 60, 100);
    p.update('evaluating', 0, 4);
    expect(lines).toEqual([
      'rung 1: 50/100 00:00<--:--',
      `rung 1: 60/100 00:10<${formatDuration(40)}`,
      'evaluating: 0/4 00:00<--:--',
    ]);
  });

  it('writes no lines without a log, and its events as before', () => {
    const out: string[] = [];
    const p = phaseProgress((l) => out.push(l), true);
    p.update('a', 1, 1);
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { event: 'progress', phase: 'a', step: 1, total: 1 },
    ]);
  });
});
