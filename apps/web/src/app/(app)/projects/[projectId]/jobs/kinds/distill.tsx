'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import type { FieldsProps, FormKind } from './kind.ts';

function DistillFields({ projectId, values, text, select }: FieldsProps) {
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
      {select(
        'method',
        'Method',
        [
          ['progressive', 'progressive (halvings 32 -> 16 -> ... -> min steps)'],
          ['consistency', 'consistency distillation (one stage; 2- and 1-step sampling)'],
          [
            'consistency-training',
            "consistency training, ECT (from the teacher's weights, no teacher in the loss)",
          ],
        ],
        // Both consistency methods evaluate 2 and 1 steps: a progressive run's fewest steps
        // above that would be refused.
        (method) => ({
          method,
          ...(method !== 'progressive' && Number(values.minSteps) > 2 ? { minSteps: '1' } : {}),
        }),
      )}
      {text('qualityBudget', 'Quality budget (keep students with FD <= X x the reference FD)')}
      {text('minSteps', values.method === 'progressive' ? 'Fewest steps' : 'Fewest steps (1 or 2)')}
      {text(
        'maxIters',
        values.method === 'consistency-training'
          ? 'Iterations (the ECT curriculum spans them all)'
          : 'Iterations per stage at most',
      )}
      {text('evalN', 'Samples per quality measurement')}
      {text('batch', 'Batch')}
      {text('lr', 'Learning rate')}
      {text('seed', 'Seed')}
    </>
  );
}

/** The defaults of `anneal distill`, except fewer iterations so a first run ends in minutes. */
export const distillForm: FormKind<'distill'> = {
  initial: {
    teacher: '',
    method: 'progressive',
    qualityBudget: '1.3',
    minSteps: '4',
    maxIters: '300',
    evalN: '500',
    batch: '32',
    lr: '0.0001',
    seed: '0',
  },
  Fields: DistillFields,
  toSpec: (v) => ({
    teacher: v.teacher ?? '',
    method:
      (['consistency', 'consistency-training'] as const).find((m) => m === v.method) ??
      'progressive',
    quality_budget: Number(v.qualityBudget),
    min_steps: Number(v.minSteps),
    max_iters_per_stage: Number(v.maxIters),
    eval_n: Number(v.evalN),
    batch: Number(v.batch),
    lr: Number(v.lr),
    seed: Number(v.seed),
  }),
};
