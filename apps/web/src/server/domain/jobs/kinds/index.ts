import { benchWebKind } from './bench.ts';
import { distillWebKind } from './distill.ts';
import { evaluateWebKind } from './evaluate.ts';
import type { WebJobKinds } from './kind.ts';
import { planWebKind } from './plan.ts';
import { sampleWebKind } from './sample.ts';
import { searchWebKind } from './search.ts';
import { trainWebKind } from './train.ts';

/** The server's part of every job kind: one entry per kind (see packages/protocol's jobKinds). */
export const webJobKinds: WebJobKinds = {
  train: trainWebKind,
  sample: sampleWebKind,
  evaluate: evaluateWebKind,
  bench: benchWebKind,
  distill: distillWebKind,
  plan: planWebKind,
  search: searchWebKind,
};
