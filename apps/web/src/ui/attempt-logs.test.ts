import { describe, expect, it } from 'vitest';
import { attemptLines } from './attempt-logs.ts';

const log = (lines: string[]) => lines.map((line, seq) => ({ seq, line }));

describe('attemptLines', () => {
  it("keeps every attempt's last lines, not only the last attempt's", () => {
    const logs = log([
      'attempt 1 failed: lost the agent',
      'a1 line 1',
      'a1 line 2',
      'a1 line 3',
      'attempt 2 failed: out of memory',
      'a2 line 1',
      'a2 line 2',
    ]);
    expect(
      attemptLines(logs, 2).map((g) => [g.attempt, g.reason, g.lines.map((l) => l.line)]),
    ).toEqual([
      [1, 'lost the agent', ['a1 line 2', 'a1 line 3']],
      [2, 'out of memory', ['a2 line 1', 'a2 line 2']],
    ]);
  });

  it('puts lines before any header on their own, and drops attempts with no lines', () => {
    const logs = log(['by hand', 'attempt 1 failed: x', 'attempt 2 failed: y', 'last']);
    expect(attemptLines(logs, 30).map((g) => [g.attempt, g.lines.length])).toEqual([
      [null, 1],
      [2, 1],
    ]);
    // In seq order, whatever order they came in.
    expect(attemptLines([...logs].reverse(), 30)[1]?.lines[0]?.line).toBe('last');
  });
});
