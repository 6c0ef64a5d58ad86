import { join } from 'node:path';
import { z } from 'zod';
import type { AgentJobKind } from './kind.ts';

export const benchAgentKind: AgentJobKind<'bench'> = {
  type: 'bench',
  submit: {
    usage: `the engine's sampling benchmark on the agent; the result is kept on the agent
[--scale smoke|quick]  smoke: seconds, the numbers only show it works; quick (default):
                       a minute or two`,
    options: { scale: { type: 'string' } },
    flags: z.object({ scale: z.string().optional() }),
    spec: (f) => ({ scale: f.scale }),
  },
  async args(s, { work }) {
    const results = join(work, 'bench');
    return [
      'bench',
      '--only',
      s.benchmark,
      `--${s.scale}`,
      '--results',
      results,
      '--json',
      '--events',
    ];
  },
  // The result file beside the summary, so the run keeps the machine record in full.
  outputs: (s, work) => [
    {
      path: `bench/${s.benchmark}.json`,
      file: join(work, 'bench', `${s.benchmark}.json`),
      what: 'the bench result',
    },
  ],
};
