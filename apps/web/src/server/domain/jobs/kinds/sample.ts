import type { WebJobKind } from './kind.ts';

/** A sample job leaves its grid as an artifact of its run (uploaded by the agent); nothing else. */
export const sampleWebKind: WebJobKind = {
  complete: async () => null,
};
