'use client';

import type { FormKind } from './kind.ts';

export const benchForm: FormKind<'bench'> = {
  initial: { benchScale: 'quick' },
  Fields: ({ select }) =>
    select('benchScale', 'Sampling benchmark size', [
      ['quick', 'quick (a minute or two)'],
      ['smoke', 'smoke (seconds; numbers mean little)'],
    ]),
  toSpec: (v) => ({ benchmark: 'sampling', scale: v.benchScale as 'smoke' | 'quick' }),
};
