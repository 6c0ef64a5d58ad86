import { describe, expect, it } from 'vitest';
import { AGENT_FEATURES } from '../messages.ts';
import { evaluateKind, evaluateSpecSchema } from './evaluate.ts';
import { trainSpecSchema } from './train.ts';

const model = { kind: 'modelVersion', id: '0b6c2d4e-1f3a-4b5c-8d7e-9f0a1b2c3d4e' } as const;

const issues = (spec: unknown) =>
  evaluateSpecSchema.safeParse(spec).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

// A multi-resolution run at 32 px: its buckets are 44x24, 32x32 and 24x44.
const source = {
  spec: trainSpecSchema.parse({
    dataset: { kind: 'builtin', name: 'shapes' },
    preset: 'small',
    resolution: 32,
    steps: 10,
    multi_resolution: true,
  }),
  versionClasses: null,
};
const need = (resolutions?: Array<number | string>) =>
  evaluateKind.memoryNeed(evaluateSpecSchema.parse({ model, resolutions }), {
    source,
    versionClasses: null,
  } as never);

describe('evaluate spec: resolutions (issue 16 §5)', () => {
  it('takes square sides and aspect buckets, asking agents for what each needs', () => {
    const squares = evaluateSpecSchema.parse({ model, resolutions: [16, 32] });
    expect(evaluateKind.features?.(squares)).toEqual(['evaluate.resolutions']);
    const buckets = evaluateSpecSchema.parse({ model, resolutions: ['44x24', 32, '24x44'] });
    expect(evaluateKind.features?.(buckets)).toEqual(['evaluate.resolutions', 'evaluate.shapes']);
    expect(evaluateKind.features?.(evaluateSpecSchema.parse({ model }))).toEqual([]);
    expect(AGENT_FEATURES).toContain('evaluate.shapes');
  });

  it('refuses malformed shapes, sides out of range and one shape named twice', () => {
    expect(issues({ model, resolutions: ['24by44'] })?.[0]).toMatch(
      /resolutions\.0: a square side N or a shape HxW/,
    );
    expect(issues({ model, resolutions: ['4x44'] })).toEqual([
      'resolutions.0: each side from 8 to 512',
    ]);
    expect(issues({ model, resolutions: [32, '32x32'] })).toEqual([
      'resolutions: lists a resolution twice',
    ]);
  });

  it('is sized at the resolution that needs the most memory', () => {
    const trained = need();
    const strip = need(['24x44']);
    const large = need(['24x44', 64]);
    expect(trained && strip && large).toBeTruthy();
    // 24x44 has 1,056 pixels beside the square's 1,024; 64 px four times as many.
    expect(strip?.bytes).toBeGreaterThan(trained?.bytes ?? Infinity);
    expect(large?.bytes).toBe(need([64])?.bytes);
    expect(large?.bytes).toBeGreaterThan(strip?.bytes ?? Infinity);
  });
});
