import { describe, expect, it } from 'vitest';
import { continuesInto, fullAnneal } from './full.ts';
import type { SearchSettings } from './state.ts';

const settings = (fullSchedule: SearchSettings['fullSchedule']) =>
  ({ fullSchedule }) as SearchSettings;

describe('fullAnneal', () => {
  it('decays from the last rung (cosine), over the last fifth (cooldown), or not at all', () => {
    expect(fullAnneal(settings('constant'), 2000, 400)).toBeUndefined();
    expect(fullAnneal(settings('cosine'), 2000, 400)).toEqual({ from: 400, to: 2000 });
    expect(fullAnneal(settings('cooldown'), 2500, 400)).toEqual({ from: 2000, to: 2500 });
  });

  it('never decays before the last rung, nor when training stops at it', () => {
    expect(fullAnneal(settings('cooldown'), 450, 400)).toEqual({ from: 400, to: 450 });
    expect(fullAnneal(settings('cooldown'), 400, 400)).toBeUndefined();
    expect(fullAnneal(settings('cosine'), 300, 400)).toBeUndefined();
  });
});

describe('continuesInto', () => {
  it('carries a constant training on into a decay that begins at or after it', () => {
    expect(continuesInto(2000, undefined, { from: 2000, to: 2500 })).toBe(true);
    expect(continuesInto(2000, undefined, undefined)).toBe(true);
    expect(continuesInto(2100, undefined, { from: 2000, to: 2500 })).toBe(false);
  });

  it('carries a decayed training on only under the same decay', () => {
    expect(continuesInto(2200, { from: 2000, to: 2500 }, { from: 2000, to: 2500 })).toBe(true);
    expect(continuesInto(2500, { from: 2000, to: 2500 }, { from: 2400, to: 3000 })).toBe(false);
    expect(continuesInto(2500, { from: 2000, to: 2500 }, undefined)).toBe(false);
  });
});
