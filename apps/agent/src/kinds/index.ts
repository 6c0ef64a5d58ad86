import type { JobType } from '@anneal/protocol';
import { benchAgentKind } from './bench.ts';
import { distillAgentKind } from './distill.ts';
import { evaluateAgentKind } from './evaluate.ts';
import type { AgentJobKind, AgentJobKinds } from './kind.ts';
import { planAgentKind } from './plan.ts';
import { sampleAgentKind } from './sample.ts';
import { searchAgentKind } from './search.ts';
import { trainAgentKind } from './train.ts';

/** The agent's part of every job kind: one entry per kind (see packages/protocol's jobKinds). */
export const agentJobKinds: AgentJobKinds = {
  train: trainAgentKind,
  sample: sampleAgentKind,
  evaluate: evaluateAgentKind,
  bench: benchAgentKind,
  distill: distillAgentKind,
  plan: planAgentKind,
  search: searchAgentKind,
};

export function agentJobKind<T extends JobType>(type: T): AgentJobKind<T> {
  return agentJobKinds[type] as AgentJobKind<T>;
}
