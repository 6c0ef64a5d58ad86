'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import type { FieldsProps, FormKind } from './kind.ts';

/** Which limit the value field sets, and the spec field it becomes. */
const LIMITS = [
  ['speedup', 'At least this much faster than the teacher (x)'],
  ['latency_ms', "At most this many ms, in the objective's unit, on the agent"],
] as const;

function SearchFields({ projectId, text, select }: FieldsProps) {
  const trpc = useTRPC();
  const versions = useQuery(trpc.registry.versions.queryOptions({ projectId }));
  return (
    <>
      {select('teacher', 'Teacher (model version)', [
        ['', 'choose a model version'],
        ...(versions.data ?? []).map(
          (v) => [v.id, `${v.modelName} v${v.version}`] as [string, string],
        ),
      ])}
      {select('objective', 'Speed means', [
        ['latency', 'latency: ms per sampling step at batch 1'],
        ['throughput', 'throughput: ms per image-step at the throughput batch'],
      ])}
      {select(
        'limit',
        'Limit',
        LIMITS.map(([v, label]) => [v, label] as [string, string]),
      )}
      {text('limitValue', 'Limit value')}
      {text('pool', 'Candidates trained for the quality proxy')}
      {text('winners', 'Winners trained on and evaluated')}
      {text('fullIters', "Winners' training iterations")}
      {text(
        'correlate',
        "Pool members trained fully for the proxy's rank correlation (0: winners only)",
      )}
      {text('evalN', 'Samples per FD measurement')}
    </>
  );
}

/**
 * The defaults of `anneal search`, except shorter training so a first search ends in well
 * under an hour on a small teacher.
 */
export const searchForm: FormKind<'search'> = {
  initial: {
    teacher: '',
    objective: 'latency',
    limit: 'speedup',
    limitValue: '1.5',
    pool: '8',
    winners: '1',
    fullIters: '500',
    correlate: '0',
    evalN: '500',
  },
  Fields: SearchFields,
  toSpec: (v) => ({
    teacher: v.teacher ?? '',
    objective: v.objective === 'throughput' ? 'throughput' : 'latency',
    [v.limit === 'latency_ms' ? 'latency_ms' : 'speedup']: Number(v.limitValue),
    pool: Number(v.pool),
    winners: Number(v.winners),
    full_iters: Number(v.fullIters),
    correlate: Number(v.correlate ?? 0),
    eval_n: Number(v.evalN),
  }),
};
