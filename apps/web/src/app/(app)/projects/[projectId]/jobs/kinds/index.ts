import { benchForm } from './bench.tsx';
import { distillForm } from './distill.tsx';
import { evaluateForm } from './evaluate.tsx';
import type { FormKinds } from './kind.ts';
import { planForm } from './plan.tsx';
import { sampleForm } from './sample.tsx';
import { searchForm } from './search.tsx';
import { trainForm } from './train.tsx';

/** The New job form's part of every job kind: one entry per kind (see packages/protocol's jobKinds). */
export const formKinds: FormKinds = {
  train: trainForm,
  sample: sampleForm,
  evaluate: evaluateForm,
  bench: benchForm,
  distill: distillForm,
  plan: planForm,
  search: searchForm,
};
