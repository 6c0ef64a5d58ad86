// Alert rules on a deployment's quality probes, as pure functions: whether a probe breaks a
// rule (relative degradation against the baseline, or a z-score against a trailing window of
// the probes before it), and the evidence that says so. No I/O: alerts.ts stores and delivers.
import { z } from 'zod';

/** Metrics a rule may watch; FD and KID are better low, the others better high. */
export const RULE_METRICS = ['fd', 'kid', 'precision', 'recall', 'accuracy'] as const;
export type RuleMetric = (typeof RULE_METRICS)[number];
const LOWER_IS_BETTER: Record<RuleMetric, boolean> = {
  fd: true,
  kid: true,
  precision: false,
  recall: false,
  accuracy: false,
};

export const alertRuleSchema = z
  .object({
    metric: z.enum(RULE_METRICS),
    /** Fires when the probe is worse than the baseline by more than this fraction (0.25: 25%). */
    relative: z.number().positive().max(100).optional(),
    /** Fires when the probe is worse than the trailing window's mean by more than z std. */
    z: z.number().positive().max(100).optional(),
    /** Probes in the trailing window (at least 3 needed before the z rule judges). */
    window: z.number().int().min(3).max(100).default(8),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  })
  .strict()
  .refine((r) => r.relative !== undefined || r.z !== undefined, {
    message: 'give relative, z or both',
    path: ['relative'],
  });
export type AlertRule = z.infer<typeof alertRuleSchema>;

export interface ProbePoint {
  id: string;
  modelVersionId: string;
  metrics: Record<string, number>;
}

export interface Breach {
  /** De-duplication key: one open alert per deployment and key. */
  key: string;
  kind: 'relative' | 'z';
  metric: RuleMetric;
  severity: AlertRule['severity'];
  message: string;
  evidence: {
    metric: RuleMetric;
    value: number;
    floor: number | null;
    probeId: string;
    modelVersionId: string;
    threshold: number;
    baseline?: { value: number; probeId: string; modelVersionId: string };
    window?: { n: number; mean: number; std: number; z: number };
  };
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * The rules `probe` breaks, given the deployment's baseline probe and the probes before it
 * (newest first). A metric the probe lacks (class accuracy of an unconditional model) is not
 * judged.
 */
export function breaches(
  rules: AlertRule[],
  probe: ProbePoint,
  baseline: ProbePoint | null,
  before: ProbePoint[],
): Breach[] {
  const out: Breach[] = [];
  for (const rule of rules) {
    const value = probe.metrics[rule.metric];
    if (value === undefined || !Number.isFinite(value)) continue;
    const lower = LOWER_IS_BETTER[rule.metric];
    const floor = probe.metrics[`floor_${rule.metric}`] ?? null;
    const name =
      rule.metric === 'fd' || rule.metric === 'kid' ? rule.metric.toUpperCase() : rule.metric;
    const base = baseline?.metrics[rule.metric];
    if (rule.relative !== undefined && baseline && base !== undefined && base > 0) {
      const change = (value - base) / base;
      const worse = lower ? change : -change;
      if (worse > rule.relative)
        out.push({
          key: `${rule.metric}:relative`,
          kind: 'relative',
          metric: rule.metric,
          severity: rule.severity,
          message: `${name} ${value.toPrecision(3)} is ${pct(Math.abs(change))} ${change > 0 ? 'above' : 'below'} the baseline ${base.toPrecision(3)} (threshold ${pct(rule.relative)})`,
          evidence: {
            metric: rule.metric,
            value,
            floor,
            probeId: probe.id,
            modelVersionId: probe.modelVersionId,
            threshold: rule.relative,
            baseline: {
              value: base,
              probeId: baseline.id,
              modelVersionId: baseline.modelVersionId,
            },
          },
        });
    }
    if (rule.z !== undefined) {
      const xs = before
        .slice(0, rule.window)
        .map((p) => p.metrics[rule.metric])
        .filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (xs.length < 3) continue;
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
      if (!(std > 0)) continue;
      const zScore = (value - mean) / std;
      if ((lower ? zScore : -zScore) > rule.z)
        out.push({
          key: `${rule.metric}:z`,
          kind: 'z',
          metric: rule.metric,
          severity: rule.severity,
          message: `${name} ${value.toPrecision(3)} is ${Math.abs(zScore).toFixed(1)} standard deviations ${zScore > 0 ? 'above' : 'below'} the mean ${mean.toPrecision(3)} of the last ${xs.length} probes (threshold ${rule.z})`,
          evidence: {
            metric: rule.metric,
            value,
            floor,
            probeId: probe.id,
            modelVersionId: probe.modelVersionId,
            threshold: rule.z,
            window: { n: xs.length, mean, std, z: zScore },
          },
        });
    }
  }
  return out;
}
