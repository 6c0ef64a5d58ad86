import { describe, expect, it } from 'vitest';
import { alertRuleSchema, breaches, type ProbePoint } from './rules.ts';

const probe = (id: string, metrics: Record<string, number>, version = 'v1'): ProbePoint => ({
  id,
  modelVersionId: version,
  metrics,
});
const rule = (r: Record<string, unknown>) => alertRuleSchema.parse(r);

describe('alert rules', () => {
  const baseline = probe('p0', { fd: 1.0, floor_fd: 0.3, precision: 0.8 });

  it('fires on relative degradation past the threshold, in the metric’s bad direction only', () => {
    const rules = [rule({ metric: 'fd', relative: 0.25, severity: 'critical' })];
    expect(breaches(rules, probe('p1', { fd: 1.2 }), baseline, [])).toEqual([]);
    const [b] = breaches(rules, probe('p1', { fd: 1.5, floor_fd: 0.31 }, 'v2'), baseline, []);
    expect(b).toMatchObject({
      key: 'fd:relative',
      severity: 'critical',
      evidence: { value: 1.5, floor: 0.31, threshold: 0.25, baseline: { value: 1, probeId: 'p0' } },
    });
    expect(b?.message).toBe('FD 1.50 is 50% above the baseline 1.00 (threshold 25%)');
    // Better than the baseline is never an alert, however far.
    expect(breaches(rules, probe('p1', { fd: 0.1 }), baseline, [])).toEqual([]);
    // Precision is better high: a drop fires, a rise does not.
    const prec = [rule({ metric: 'precision', relative: 0.1 })];
    expect(breaches(prec, probe('p1', { precision: 0.6 }), baseline, [])).toHaveLength(1);
    expect(breaches(prec, probe('p1', { precision: 0.99 }), baseline, [])).toEqual([]);
  });

  it('judges a z-score only with three probes or more and some spread', () => {
    const rules = [rule({ metric: 'fd', z: 3, window: 4 })];
    const window = [1.0, 1.1, 0.9, 1.05, 50].map((fd, i) => probe(`w${i}`, { fd }));
    expect(breaches(rules, probe('p', { fd: 5 }), null, window.slice(0, 2))).toEqual([]);
    expect(
      breaches(
        rules,
        probe('p', { fd: 5 }),
        null,
        [1, 1, 1].map((fd) => probe('c', { fd })),
      ),
    ).toEqual([]);
    // The window is the last 4 (the 50 beyond it is not counted): mean 1.0125, std ~0.085.
    const [b] = breaches(rules, probe('p', { fd: 1.5 }), null, window);
    expect(b?.key).toBe('fd:z');
    expect(b?.evidence.window?.n).toBe(4);
    expect(b?.evidence.window?.z).toBeGreaterThan(3);
    expect(breaches(rules, probe('p', { fd: 1.2 }), null, window)).toEqual([]);
  });

  it('skips a metric the probe lacks, and refuses a rule with no threshold', () => {
    const rules = [rule({ metric: 'accuracy', relative: 0.1 })];
    expect(breaches(rules, probe('p', { fd: 9 }), baseline, [])).toEqual([]);
    expect(alertRuleSchema.safeParse({ metric: 'fd' }).success).toBe(false);
  });
});
