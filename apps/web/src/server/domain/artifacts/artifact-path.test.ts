import { describe, expect, it } from 'vitest';
import { normalizeArtifactPath } from './artifact-path.ts';

describe('normalizeArtifactPath', () => {
  it('keeps ordinary nested paths', () => {
    expect(normalizeArtifactPath('samples/step%201000/grid.png')).toBe(
      'samples/step 1000/grid.png',
    );
  });

  it.each([
    '..',
    '../x',
    'a/../../b',
    '/etc/passwd',
    'C:/x',
    'a\\..\\b',
    'a//b',
    './a',
    'a/.',
    '%2e%2e/x',
    'a\u0000b',
    '',
  ])('refuses %j', (path) => {
    expect(() => normalizeArtifactPath(path)).toThrow(/^path: /);
  });
});
